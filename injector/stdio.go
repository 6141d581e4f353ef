package injector

import (
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// outQueue writes byte slices to w in order from a goroutine of its own, so
// the supervisor loop never blocks on a slow reader (a client that does not
// read, a child that does not read its stdin).
type outQueue struct {
	mu     sync.Mutex
	items  [][]byte
	busy   bool // the goroutine is writing
	closed bool // no more items: end once they are written
	failed bool // w failed: drop what comes
	wake   chan struct{}
	w      io.Writer
	closeW bool // close w at the end (a child's stdin: its EOF)
	// raw, for a non-blocking pipe, lets push write at once when nothing is
	// queued: a message then costs no goroutine switch.
	raw syscall.RawConn
}

func newOutQueue(w io.Writer, closeW bool, wg *sync.WaitGroup) *outQueue {
	q := &outQueue{w: w, closeW: closeW, wake: make(chan struct{}, 1)}
	if f, ok := w.(*os.File); ok && nonBlocking(f) {
		q.raw, _ = f.SyscallConn()
	}
	wg.Go(q.run)
	return q
}

// push queues b; the queue owns it from now on.
func (q *outQueue) push(b []byte) {
	q.mu.Lock()
	if q.closed || q.failed {
		q.mu.Unlock()
		return
	}
	if len(q.items) == 0 && !q.busy && q.raw != nil {
		b = q.tryWrite(b)
	}
	if len(b) > 0 {
		q.items = append(q.items, b)
	}
	q.mu.Unlock()
	if len(b) > 0 {
		q.poke()
	}
}

// tryWrite writes what the pipe takes without waiting, and returns the rest.
func (q *outQueue) tryWrite(b []byte) []byte {
	q.raw.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := syscall.Write(int(fd), b)
			if n > 0 {
				b = b[n:]
			}
			if err != nil {
				if err != syscall.EAGAIN && err != syscall.EINTR {
					q.failed = true
					b = nil
				}
				break
			}
		}
		return true // never wait here: the queue's goroutine does
	})
	return b
}

// nonBlocking reports whether f is a pipe in non-blocking mode (as os.Pipe
// makes them), so a write can be tried without blocking.
func nonBlocking(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		ok = err == nil && flags&unix.O_NONBLOCK != 0
	})
	return ok
}

// close ends the queue once everything queued is written.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.poke()
}

func (q *outQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *outQueue) run() {
	for range q.wake {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.busy = true
		q.mu.Unlock()
		for _, b := range items {
			if _, err := q.w.Write(b); err != nil {
				q.mu.Lock()
				q.failed = true
				q.mu.Unlock()
				break
			}
		}
		q.mu.Lock()
		q.busy = false
		done := q.closed && len(q.items) == 0
		if len(q.items) > 0 {
			q.poke() // pushed while writing, found busy
		}
		q.mu.Unlock()
		if done || closed && q.failed {
			if c, ok := q.w.(io.Closer); ok && q.closeW {
				c.Close()
			}
			return
		}
	}
}

// chunk is bytes read from the client (from == nil) or from a child's stdout.
type chunk struct {
	from *proc
	data []byte
	eof  bool
}

// readChunks sends what r yields to ch until EOF or an error (then one eof
// chunk), or until quit is closed.
func readChunks(r io.Reader, from *proc, ch chan<- chunk, quit <-chan struct{}) {
	buf := make([]byte, pipeSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			// A large read is handed over whole (the receiver owns it); a
			// small one is copied, so buf is not reallocated for every line.
			data := buf[:n]
			if n >= 64<<10 {
				buf = make([]byte, pipeSize)
			} else {
				data = append([]byte(nil), data...)
			}
			select {
			case ch <- chunk{from: from, data: data}:
			case <-quit:
				return
			}
		}
		if err != nil {
			select {
			case ch <- chunk{from: from, eof: true}:
			case <-quit:
			}
			return
		}
	}
}

// pipeSize is the buffer of the pipes to and from children (Linux allows an
// unprivileged process 1 MiB): a large tool result then moves in a few
// reads, not hundreds.
const pipeSize = 1 << 20

// growPipe makes a pipe's buffer pipeSize, where the system lets it.
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
}

// nonBlockingDup returns a non-blocking duplicate of w when it is a file
// (the launcher's stdout to the client), with a bigger pipe buffer, so the
// loop can write a message at once without ever blocking on the client;
// other writers are returned as they are.
func nonBlockingDup(w io.Writer) (io.Writer, func()) {
	f, ok := w.(*os.File)
	if !ok {
		return w, func() {}
	}
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return w, func() {}
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return w, func() {}
	}
	nf := os.NewFile(uintptr(fd), f.Name())
	growPipe(nf)
	return nf, func() { nf.Close() }
}

// interruptible returns a reader of r that interrupt can stop, and a
// release to call once nothing reads it. For a file (the launcher's stdin)
// it is a non-blocking duplicate read through the runtime poller, whose
// read deadline interrupt sets: a goroutine blocked reading a client that
// never closes stdin must still end with the supervisor. Other readers are
// returned as they are; their owner ends them by closing them.
func interruptible(r io.Reader) (reader io.Reader, interrupt, release func()) {
	nop := func() {}
	f, ok := r.(*os.File)
	if !ok {
		return r, nop, nop
	}
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return r, nop, nop
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return r, nop, nop
	}
	nf := os.NewFile(uintptr(fd), f.Name())
	return nf, func() {
		if nf.SetReadDeadline(time.Now()) != nil {
			nf.Close() // not pollable after all: closing is the next best thing
		}
	}, func() { nf.Close() }
}
