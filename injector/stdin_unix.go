//go:build unix

package injector

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// interruptibleFile reads f after poll(2) says it is readable, polling a
// pipe of the launcher's own beside it: interrupt writes to that pipe. The
// client's descriptor stays blocking, as the client made it.
func interruptibleFile(f *os.File) (io.Reader, func(), func()) {
	wakeR, wakeW, err := os.Pipe()
	if err != nil {
		return f, func() {}, func() {}
	}
	pr := &pollReader{fd: fdOf(f), wake: fdOf(wakeR), f: f, wakeR: wakeR}
	return pr, func() { wakeW.Write([]byte{0}) }, func() { wakeW.Close(); wakeR.Close() }
}

type pollReader struct {
	fd, wake int
	f        *os.File // kept alive while fd is used
	wakeR    *os.File
}

func (r *pollReader) Read(p []byte) (int, error) {
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}, {Fd: int32(r.wake), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		break
	}
	if fds[1].Revents != 0 {
		return 0, errInterrupted
	}
	// Readable, at end of file, or in error: read says which, without
	// blocking.
	n, err := unix.Read(r.fd, p)
	for err == unix.EINTR {
		n, err = unix.Read(r.fd, p)
	}
	switch {
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// fdOf is f's descriptor, without f.Fd(), which would change its mode.
func fdOf(f *os.File) int {
	fd := -1
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(u uintptr) { fd = int(u) })
	}
	return fd
}
