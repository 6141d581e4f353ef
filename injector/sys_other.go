//go:build unix && !linux

package injector

import "syscall"

// sysProcAttr: without PR_SET_PDEATHSIG (Linux only) a child can outlive a
// launcher killed by SIGKILL; every other way of ending stops it.
func sysProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup}
}
