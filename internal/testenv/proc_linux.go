package testenv

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr runs a process as as (nil: the tests' own user), in its own
// process group when ownGroup (so cleanup can kill the server's children
// too), and SIGKILLed when the test binary dies before cleanup runs.
func sysProcAttr(as *runAs, ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Pdeathsig: syscall.SIGKILL, Credential: as}
}

// groupLive reports whether process group pgid has a member that is not a
// zombie. Killed orphans stay zombies until init reaps them, which can take
// a second (observed: PID 1 of this sandbox reaps about once a second); a
// zombie holds no port or file, so it does not count.
func groupLive(pgid int) bool {
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell: assume the worst
	}
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 2 && f[2] == want && f[0] != "Z" {
			return true
		}
	}
	return false
}
