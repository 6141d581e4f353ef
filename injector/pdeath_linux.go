package injector

import "syscall"

// setParentDeath: the kernel kills the child if the launcher dies, even by
// SIGKILL (the watchdog then ends the rest of its group).
func setParentDeath(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
