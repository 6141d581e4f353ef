//go:build unix && !linux

package injector

import "golang.org/x/sys/unix"

// NoDumps keeps the launcher's memory, which holds secrets, out of core files.
func NoDumps() error {
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
}
