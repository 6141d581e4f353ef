package injector

import (
	"errors"
	"io"
	"os"
	"time"
)

// errInterrupted ends a read that the supervisor interrupted.
var errInterrupted = errors.New("read interrupted")

// interruptible returns a reader of r that interrupt can stop, and a
// release to call once nothing reads it. A goroutine blocked reading a
// client that never closes stdin must still end with the supervisor, and
// the launcher must not change the client's file description to get there
// (O_NONBLOCK is shared with the client). A file the runtime polls (a pipe
// the launcher made) is interrupted by its read deadline; another file (the
// launcher's stdin) by the platform's own means. Other readers are returned
// as they are; their owner ends them by closing them.
func interruptible(r io.Reader) (reader io.Reader, interrupt, release func()) {
	nop := func() {}
	f, ok := r.(*os.File)
	if !ok {
		return r, nop, nop
	}
	if f.SetReadDeadline(time.Time{}) == nil {
		return f, func() { f.SetReadDeadline(time.Now()) }, nop
	}
	return interruptibleFile(f)
}

// IsTerminal reports whether v, one of the launcher's streams, is a
// terminal (a console on Windows).
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && isTerminal(f)
}

// ioctlOK reports whether query succeeds on f's descriptor, reached through
// SyscallConn so that f's mode stays as it is.
func ioctlOK(f *os.File, query func(fd uintptr) error) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) { ok = query(fd) == nil })
	return ok
}
