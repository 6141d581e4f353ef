package injector

import (
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// outQueue writes byte slices to w in order from a goroutine of its own, so
// the supervisor loop never blocks on a slow reader (a client that does not
// read, a child that does not read its stdin).
type outQueue struct {
	mu     sync.Mutex
	items  [][]byte
	closed bool // no more items: end once they are written
	failed bool // w failed: drop what comes
	wake   chan struct{}
	w      io.Writer
	closeW bool // close w at the end (a child's stdin: its EOF)
}

func newOutQueue(w io.Writer, closeW bool, wg *sync.WaitGroup) *outQueue {
	q := &outQueue{w: w, closeW: closeW, wake: make(chan struct{}, 1)}
	wg.Go(q.run)
	return q
}

// push queues b; the queue owns it from now on.
func (q *outQueue) push(b []byte) {
	q.mu.Lock()
	if !q.closed && !q.failed {
		q.items = append(q.items, b)
	}
	q.mu.Unlock()
	q.poke()
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
		done := q.closed && len(q.items) == 0
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
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			select {
			case ch <- chunk{from: from, data: append([]byte(nil), buf[:n]...)}:
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
