package main

import (
	"strings"
	"syscall"
)

// portableSignal reads the stop signals every system names (Windows has no
// table of its own to look names up in).
func portableSignal(s string) (syscall.Signal, bool) {
	switch strings.TrimPrefix(strings.ToUpper(s), "SIG") {
	case "TERM", "15":
		return syscall.SIGTERM, true
	case "INT", "2":
		return syscall.SIGINT, true
	case "HUP", "1":
		return syscall.SIGHUP, true
	case "QUIT", "3":
		return syscall.SIGQUIT, true
	case "KILL", "9":
		return syscall.SIGKILL, true
	}
	return 0, false
}
