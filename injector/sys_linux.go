package injector

import "syscall"

// sysProcAttr: the kernel kills the child if the launcher dies, even by
// SIGKILL, so no MCP server is orphaned.
func sysProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Pdeathsig: syscall.SIGKILL}
}
