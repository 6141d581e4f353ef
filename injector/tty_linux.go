package injector

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal asks without f.Fd(), which would put f in blocking mode: the
// runtime could then no longer interrupt a read of it.
func isTerminal(f *os.File) bool {
	return ioctlOK(f, func(fd uintptr) error { _, err := unix.IoctlGetTermios(int(fd), unix.TCGETS); return err })
}
