package injector

import "golang.org/x/sys/unix"

// NoDumps keeps the launcher's memory, which holds secrets, out of core
// files, and debuggers from attaching to it (PT_DENY_ATTACH).
func NoDumps() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	return unix.PtraceDenyAttach()
}
