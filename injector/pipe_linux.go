package injector

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe makes a pipe's buffer pipeSize (Linux lets an unprivileged
// process have 1 MiB).
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
}
