//go:build unix

package injector

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// clientOut is how the loop writes to the client's stdout: a message goes
// out at once, from the loop, when the pipe takes it without blocking, and
// through the queue's goroutine otherwise (a goroutine switch per message
// is most of the relay's latency). The client's open file description is
// never made non-blocking: a socket (Node's stdio) is written with
// MSG_DONTWAIT, a pipe through a description of the launcher's own where
// the system gives one (reopenPipe).
func clientOut(w io.Writer) (io.Writer, func([]byte) ([]byte, error), func()) {
	nop := func() {}
	f, ok := w.(*os.File)
	if !ok {
		return w, nil, nop
	}
	var st unix.Stat_t
	fd := fdOf(f)
	if fd < 0 || unix.Fstat(fd, &st) != nil {
		return w, nil, nop
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return w, func(b []byte) ([]byte, error) { return sendNow(fd, b) }, nop
	case unix.S_IFIFO:
		if own := reopenPipe(fd); own != nil {
			return own, directWriter(own), func() { own.Close() }
		}
	}
	return w, nil, nop
}

// sendNow sends what the socket takes without waiting, and returns the
// rest.
func sendNow(fd int, b []byte) ([]byte, error) {
	for len(b) > 0 {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_DONTWAIT)
		if n > 0 {
			b = b[n:]
		}
		switch err {
		case nil:
		case unix.EINTR:
		case unix.EAGAIN:
			return b, nil
		default:
			return nil, err
		}
	}
	return b, nil
}
