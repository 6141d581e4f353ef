//go:build unix

package injector

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// directWriter returns a function that writes what a non-blocking pipe
// takes at once and returns the rest, or nil if f is not such a pipe. Only
// for pipes the launcher made: the flag belongs to the open file
// description, which the launcher never changes on what it shares.
func directWriter(f *os.File) func([]byte) ([]byte, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	nonBlocking := false
	rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonBlocking = err == nil && flags&unix.O_NONBLOCK != 0
	})
	if !nonBlocking {
		return nil
	}
	return func(b []byte) ([]byte, error) {
		var werr error
		rc.Write(func(fd uintptr) bool {
			for len(b) > 0 {
				n, err := syscall.Write(int(fd), b)
				if n > 0 {
					b = b[n:]
				}
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					if err != syscall.EAGAIN {
						werr, b = err, nil
					}
					break
				}
			}
			return true // never wait here: the queue's goroutine does
		})
		return b, werr
	}
}
