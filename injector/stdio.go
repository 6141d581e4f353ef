package injector

import (
	"io"
	"os"
	"sync"
)

// outQueue writes byte slices to w in order from a goroutine of its own, so
// the supervisor loop never blocks on a slow reader (a client that does not
// read, a child that does not read its stdin). What it holds is bounded by
// the readers that feed it: they wait (waitRoom) while it holds queueLimit
// bytes or more.
type outQueue struct {
	mu     sync.Mutex
	items  [][]byte
	size   int  // bytes in items and being written
	busy   bool // the goroutine is writing
	closed bool // no more items: end once they are written
	failed bool // w failed: drop what comes
	room   chan struct{}
	wake   chan struct{}
	w      io.Writer
	closeW bool // close w at the end (a child's stdin: its EOF)
	// direct, for a pipe of the launcher's own in non-blocking mode, lets
	// push write at once when nothing is queued: a message then costs no
	// goroutine switch.
	direct func([]byte) (rest []byte, err error)
}

// queueLimit is how many bytes a queue holds before its feeders wait.
const queueLimit = 4 << 20

func newOutQueue(w io.Writer, closeW bool, wg *sync.WaitGroup) *outQueue {
	q := &outQueue{w: w, closeW: closeW, wake: make(chan struct{}, 1)}
	if f, ok := w.(*os.File); ok && closeW {
		q.direct = directWriter(f) // only pipes the launcher made itself
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
	if len(q.items) == 0 && !q.busy && q.direct != nil {
		var err error
		if b, err = q.direct(b); err != nil {
			q.failed = true
			b = nil
		}
	}
	if len(b) > 0 {
		q.items = append(q.items, b)
		q.size += len(b)
	}
	q.mu.Unlock()
	if len(b) > 0 {
		q.poke()
	}
}

// waitRoom blocks until the queue holds less than queueLimit bytes (or is
// closed, or has failed), or quit is closed; it reports false for quit.
func (q *outQueue) waitRoom(quit <-chan struct{}) bool {
	for {
		q.mu.Lock()
		if q.size < queueLimit || q.closed || q.failed {
			q.mu.Unlock()
			return true
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-quit:
			return false
		}
	}
}

// close ends the queue once everything queued is written.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.freeRoom()
	q.mu.Unlock()
	q.poke()
}

// freeRoom wakes the feeders waiting for room. Call it with mu held.
func (q *outQueue) freeRoom() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
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
			_, err := q.w.Write(b)
			q.mu.Lock()
			q.size -= len(b)
			if err != nil {
				q.failed = true
			}
			if q.size < queueLimit || q.failed {
				q.freeRoom()
			}
			failed := q.failed
			q.mu.Unlock()
			if failed {
				break
			}
		}
		q.mu.Lock()
		q.busy = false
		if q.failed {
			q.size, q.items = 0, nil
		}
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
// chunk), or until quit is closed. Before each read it waits for room where
// the bytes go (room may be nil): memory stays bounded whatever a peer
// sends, and a peer that does not read makes the other one wait.
func readChunks(r io.Reader, from *proc, ch chan<- chunk, quit <-chan struct{}, room func() *outQueue) {
	buf := make([]byte, pipeSize)
	for {
		if room != nil {
			if q := room(); q != nil && !q.waitRoom(quit) {
				return
			}
		}
		n, err := r.Read(buf)
		if n > 0 {
			// A large read is handed over whole (the receiver owns it); a
			// smaller one is copied, so buf is not reallocated for every
			// line, nor for every pipe-sized read.
			data := buf[:n]
			if n >= pipeSize/4 {
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

// queueWriter is an io.Writer onto a queue, for the redacting writers of raw
// output: it copies, as the queue keeps what it is given.
type queueWriter struct{ q *outQueue }

func (w queueWriter) Write(p []byte) (int, error) {
	w.q.push(append([]byte(nil), p...))
	return len(p), nil
}
