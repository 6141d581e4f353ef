//go:build unix

package main

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// parseSignal reads a signal name (SIGTERM, TERM) or number.
func parseSignal(s string) (syscall.Signal, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := s
	if len(name) < 3 || name[:3] != "SIG" {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, usageError{fmt.Errorf("--stop-signal %q: not a signal", s)}
}
