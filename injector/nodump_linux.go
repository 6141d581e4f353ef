package injector

import "golang.org/x/sys/unix"

// NoDumps keeps the launcher's memory, which holds secrets, out of core
// files and away from ptrace by other processes of the same user.
func NoDumps() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
