//go:build unix && !linux

package testenv

import (
	"errors"
	"syscall"
)

// sysProcAttr runs a process as as (nil: the tests' own user), in its own
// process group when ownGroup. There is no parent-death signal here: a
// server outlives a test binary killed before cleanup runs.
func sysProcAttr(as *runAs, ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Credential: as}
}

// groupLive reports whether process group pgid has a member; without /proc
// a zombie that init has yet to reap counts as one.
func groupLive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
