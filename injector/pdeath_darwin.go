package injector

import "syscall"

// setParentDeath: macOS has no parent-death signal; the watchdog, which
// learns of the launcher's end, kills the child's whole group instead.
func setParentDeath(*syscall.SysProcAttr) {}
