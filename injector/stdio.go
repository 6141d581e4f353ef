package injector

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/mcp-secrets/mcp-secrets/redact"
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

// newOutQueue writes to w; direct, if not nil, writes what w takes at once
// without blocking and returns the rest.
func newOutQueue(w io.Writer, closeW bool, direct func([]byte) ([]byte, error), wg *sync.WaitGroup) *outQueue {
	q := &outQueue{w: w, closeW: closeW, direct: direct, wake: make(chan struct{}, 1)}
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
// closed, or has failed), or quit or cancel is closed; it reports false for
// those. cancel may be nil.
func (q *outQueue) waitRoom(quit, cancel <-chan struct{}) bool {
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
		case <-cancel:
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
	from *child
	data []byte
	eof  bool
}

// readChunks sends what r yields to ch until EOF or an error (then one eof
// chunk), or until quit is closed. Before each read it waits for room where
// the bytes go (room may be nil): memory stays bounded whatever a peer
// sends, and a peer that does not read makes the other one wait.
func readChunks(r io.Reader, from *child, ch chan<- chunk, quit <-chan struct{}, room func() *outQueue) {
	buf := make([]byte, pipeSize)
	for {
		if room != nil {
			if q := room(); q != nil && !q.waitRoom(quit, nil) {
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

// copyStderr relays a child's stderr, redacted line by line.
func (l *loop) copyStderr(r io.Reader) {
	rw := redact.NewWriter(l.s.Stderr, l.s.Redact, true)
	idle := time.AfterFunc(time.Hour, func() { rw.FlushIdle() })
	defer idle.Stop()
	idle.Stop()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			rw.Write(buf[:n])
			idle.Reset(idleFlush)
		}
		if err != nil {
			idle.Stop()
			rw.Flush()
			return
		}
	}
}

// idleFlush is how long a child's output may pause before what the
// redactor holds back, waiting for the rest of a line, is written anyway
// (all but a tail that could begin a secret): a prompt without a newline,
// or a protocol that does not end its messages with one, must not stall.
const idleFlush = 20 * time.Millisecond

// onChunk handles bytes from the client or from a child's stdout.
func (l *loop) onChunk(ch chunk) {
	if ch.from == nil {
		l.fromClient(ch)
		return
	}
	p := ch.from
	if ch.eof {
		if l.mode == mcp {
			p.out.flush(func(line []byte) { l.childLine(p, line) }) // a last line without its newline
		}
		if p.raw != nil {
			p.idle.Stop()
			p.raw.Flush()
		}
		p.outEOF = true
		if p.exited {
			l.gone(p)
		}
		return
	}
	if l.mode == undecided {
		l.decide(raw) // the child spoke first: not an MCP server
		l.flushRaw()
	}
	if l.mode == mcp {
		l.childBytes(p, ch.data)
		return
	}
	p.raw.Write(ch.data)
	p.idle.Reset(idleFlush)
}

// fromClient handles bytes from the launcher's stdin.
func (l *loop) fromClient(ch chunk) {
	if ch.eof {
		l.eof = true
	}
	if l.mode == undecided {
		l.pending = append(l.pending, ch.data...)
		if !l.detect() {
			return
		}
		ch.data, l.pending = l.pending, nil
		if l.mode == mcp {
			ch.data = skipBlank(ch.data) // a JSON-RPC peer need not parse them
		}
	}
	switch l.mode {
	case raw:
		l.pending = append(l.pending, ch.data...)
		l.flushRaw()
	case mcp:
		l.client.feed(ch.data, l.maxMessage(), l.clientLine, l.clientTooLong)
		if l.eof {
			l.client.flush(l.clientLine)
			l.clientClosed()
		}
	}
}

// flushRaw hands the client's bytes to the current child (raw mode), and
// its EOF once the client closed stdin.
func (l *loop) flushRaw() {
	if l.mode != raw || l.st == restarting || l.cur.in == nil {
		return
	}
	if len(l.pending) > 0 {
		l.cur.in.push(l.pending)
		l.pending = nil
	}
	if l.eof {
		l.cur.in.close()
	}
}

// detect decides the stdio mode from the client's first line, once it is
// whole: MCP if it is a JSON-RPC request or notification (or a batch of
// them); blank lines and a byte-order mark before it do not count. Anything
// else, or a first line longer than a message may be, is raw.
func (l *loop) detect() bool {
	b := skipBlank(l.pending)
	i := bytes.IndexByte(b, '\n')
	switch {
	case i >= 0 && opensMCP(b[:i]):
		l.decide(mcp)
	case i >= 0 || l.eof || len(l.pending) > l.maxMessage():
		l.decide(raw)
	}
	return l.mode != undecided
}

// skipBlank skips what a client may send before its first message.
func skipBlank(b []byte) []byte {
	for {
		n := len(b)
		b = bytes.TrimLeft(b, " \t\r\n")
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		if len(b) == n {
			return b
		}
	}
}

// decide fixes the stdio mode after the first client line (or the child's
// first output). Redaction does not depend on it.
func (l *loop) decide(m mode) {
	l.mode = m
	l.s.Log.Debug("stdio", "mcp", m == mcp)
}

// lines splits a stream into lines of at most max bytes. Lines that arrive
// whole are handed on where they are (a chunk's bytes are never written to
// again); the start of a line waits as the pieces it came in, joined once
// its newline comes (one copy, whatever its length). A longer line is
// dropped up to its newline, and its first bytes go to tooLong.
type lines struct {
	parts [][]byte
	n     int  // their length
	skip  bool // dropping the rest of a line too long
}

// tooLongHead is how much of a dropped line tooLong sees: enough for the
// members before a message's payload.
const tooLongHead = 64 << 10

func (b *lines) feed(data []byte, max int, line, tooLong func([]byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if b.skip {
			if i < 0 {
				return
			}
			b.skip = false
			data = data[i+1:]
			continue
		}
		n := b.n + i // the line's length without its newline
		if i < 0 {
			n = b.n + len(data)
		}
		if n > max {
			head := data
			if len(b.parts) > 0 {
				head = b.parts[0]
			}
			tooLong(head[:min(len(head), tooLongHead)])
			b.parts, b.n, b.skip = nil, 0, i < 0
			if i < 0 {
				return
			}
			data = data[i+1:]
			continue
		}
		if i < 0 {
			b.parts = append(b.parts, data)
			b.n += len(data)
			return
		}
		if b.n > 0 {
			line(b.join(data[:i+1]))
		} else {
			line(data[:i+1])
		}
		data = data[i+1:]
	}
}

// join is the line waiting, ended by end, in one new slice.
func (b *lines) join(end []byte) []byte {
	l := make([]byte, 0, b.n+len(end))
	for _, p := range b.parts {
		l = append(l, p...)
	}
	b.parts, b.n = nil, 0
	return append(l, end...)
}

// flush hands on a last line that has no newline, unless it is blank.
func (b *lines) flush(line func([]byte)) {
	if l := b.join([]byte{'\n'}); !b.skip && len(bytes.TrimSpace(l)) > 0 {
		line(l)
	}
	b.skip = false
}
