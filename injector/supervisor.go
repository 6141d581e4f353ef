package injector

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcp-secrets/mcp-secrets/redact"
)

// MCPMode says whether the launcher speaks MCP on the child's stdio.
type MCPMode string

const (
	MCPOff  MCPMode = "off"  // stdin handed to the child as it is
	MCPAuto MCPMode = "auto" // MCP if the client's first message is a JSON-RPC request or notification
	MCPOn   MCPMode = "on"
)

// ParseMCPMode checks an --mcp value.
func ParseMCPMode(s string) (MCPMode, error) {
	switch m := MCPMode(s); m {
	case MCPOff, MCPAuto, MCPOn:
		return m, nil
	}
	return "", fmt.Errorf("--mcp %q: want auto, on or off", s)
}

// DefaultMaxMessage bounds one message (a line) from the client or a child
// unless Supervisor.MaxMessage says otherwise.
const DefaultMaxMessage = 8 << 20

// Supervisor runs a child, forwards signals to it, restarts it when a new
// launch arrives, and ends with it. All of its state belongs to the one
// goroutine that runs Run; each child has exactly one Wait goroutine, and
// the goroutines that move its bytes end before Run returns.
type Supervisor struct {
	Spec Spec
	// The launcher's stdio. The launcher sits on stdin for MCP (unless it is
	// off, or stdin is a terminal), and on stdout and stderr to redact them
	// (unless redaction is off, or they are a terminal: a person, not a
	// client); the child gets the others as they are.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	MCP            MCPMode
	// Redact holds the values to hide from what the child prints; nil turns
	// redaction off.
	Redact *redact.Set
	// ReadyTimeout bounds a restarted MCP server's replay; 0 means 30s.
	ReadyTimeout time.Duration
	// MaxMessage bounds a line from the client or a child in MCP mode; 0
	// means DefaultMaxMessage. A longer one is dropped, and a request it
	// was gets an error reply.
	MaxMessage int
	Log        *slog.Logger
	// Guard contains every child's tree however the launcher ends, and reaps
	// orphans as PID 1; nil for neither.
	Guard *Guard
	// Restarted, if set, is called on the supervisor's goroutine once a
	// restart has finished, with the launch the child now runs: the sidecar
	// counts restarts and routes to children that run the newest values.
	Restarted func(Launch)

	retryBase time.Duration // half the first pause before a failed restart is tried again; 0 means 1s
}

// Signals are the signals the caller should relay to Run (os/signal.Notify);
// with reap, the child-exit signal too.
func Signals(reap bool) []os.Signal {
	s := append(append([]os.Signal{}, stopSignals...), forwardSignals...)
	if reap {
		s = append(s, childSignal...)
	}
	return s
}

// Launch is what a child starts with.
type Launch struct {
	Argv, Env []string
}

// StartError is a child that could not be started.
type StartError struct{ Err error }

func (e *StartError) Error() string { return fmt.Sprintf("starting the child: %v", e.Err) }
func (e *StartError) Unwrap() error { return e.Err }

// mode is how the launcher handles the child's stdio.
type mode int

const (
	undecided mode = iota // waiting for the client's first line
	raw                   // bytes copied as they are (redacted)
	mcp                   // MCP messages relayed line by line
)

// state is the supervisor's lifecycle state.
type state int

const (
	running    state = iota
	restarting       // stop-then-start: the old child is stopping; the new one starts when it is gone
	stopping         // the launcher is ending with the child
)

// proc is a child with the launcher's view of it.
type proc struct {
	c      *child
	launch Launch
	seq    int       // the wanted launch it runs: the higher, the newer
	gen    int       // 0 for the first child, then one more per start
	in     *outQueue // its stdin, when the launcher feeds it
	out    lines     // its stdout, split into messages (mcp)
	// raw redacts its stdout onto the client's (raw mode); idle flushes
	// what raw holds back once the child goes quiet.
	raw     *redact.Writer
	idle    *time.Timer
	pending int // client requests sent to it and not answered
	drain   *time.Timer
	stopped bool // asked to stop after draining
	// A child is gone once it has exited and its stdout is read to the end:
	// its last replies may still be in the pipe when its exit is seen.
	exited, outEOF bool
	pipes          []*os.File // the launcher's ends of its stdout and stderr
}

// loop is one Run: the state the supervisor goroutine owns.
type loop struct {
	s *Supervisor
	// Which of the launcher's streams it sits on (the child has the others).
	stdin, stdout, stderr bool
	mode                  mode
	st                    state
	// The newest wanted launch. Every start, retry and take-over runs it,
	// and a child whose seq is lower is replaced as soon as none is under way.
	want     Launch
	wantSeq  int
	exited   chan *child
	chunks   chan chunk
	timeouts chan func() // work scheduled by timers, run by the loop
	quit     chan struct{}
	io       sync.WaitGroup // goroutines that move bytes
	procs    map[*child]*proc
	cur      *proc
	gen      int
	out      *outQueue                // the client's stdout
	dest     atomic.Pointer[outQueue] // where the client's bytes go: its reader waits for room there
	barrier  *outQueue                // dest while no child takes them (stop-then-start)
	client   lines                    // the client's bytes not yet handled
	eof      bool                     // the client closed stdin
	status   int
	sess     *session
	retry    int         // failed MCP restarts in a row
	retryT   *time.Timer // the pending retry, if any
	unblock  func()      // interrupts the read of the client's stdin
	done     bool        // Run returns status and err
	err      error
	pipes    []*os.File // every child's stdout and stderr, launcher's ends
	spawner  *spawner
}

// Run starts the child with launch and supervises it until it ends,
// returning its exit status. A value on updates is the newest wanted launch:
// the child is restarted with it. Canceling ctx stops the child.
func (s *Supervisor) Run(ctx context.Context, launch Launch, updates <-chan Launch, signals <-chan os.Signal) (int, error) {
	l := &loop{
		s:        s,
		want:     launch,
		exited:   make(chan *child),
		chunks:   make(chan chunk),
		timeouts: make(chan func()),
		quit:     make(chan struct{}),
		procs:    map[*child]*proc{},
		sess:     newSession(),
		spawner:  newSpawner(),
	}
	l.stdin = s.MCP != MCPOff && !IsTerminal(s.Stdin)
	l.stdout = l.stdin || s.Redact != nil && !IsTerminal(s.Stdout)
	l.stderr = s.Redact != nil && !IsTerminal(s.Stderr)
	switch {
	case !l.stdin:
		l.mode = raw
	case s.MCP == MCPOn:
		l.mode = mcp
	}
	if l.stdout {
		l.out = newOutQueue(s.Stdout, false, &l.io)
	}
	if l.stdin {
		in, interrupt, release := interruptible(s.Stdin)
		defer release()
		l.unblock = interrupt
		l.io.Go(func() { readChunks(in, nil, l.chunks, l.quit, l.dest.Load) })
	}
	defer l.shutdown()

	if err := l.startChild(); err != nil {
		return 0, &StartError{err}
	}
	done := ctx.Done()
	for !l.done {
		select {
		case c := <-l.exited:
			l.onExit(c)
		case launch := <-updates:
			l.onUpdate(launch)
		case sig := <-signals:
			l.onSignal(sig)
		case ch := <-l.chunks:
			l.onChunk(ch)
		case f := <-l.timeouts:
			f()
		case <-done:
			done = nil // handled once
			l.stopAll(s.Spec.StopSignal)
		}
	}
	return l.status, l.err
}

func (l *loop) maxMessage() int {
	if l.s.MaxMessage > 0 {
		return l.s.MaxMessage
	}
	return DefaultMaxMessage
}

// startChild starts a child with the newest wanted launch and makes it the
// current one.
func (l *loop) startChild() error {
	p, err := l.spawn()
	if err != nil {
		return err
	}
	l.setCur(p)
	return nil
}

// setCur makes p the current child: the client's bytes go to it.
func (l *loop) setCur(p *proc) {
	l.cur = p
	l.dest.Store(p.in)
	if l.barrier != nil {
		l.barrier.lift()
		l.barrier = nil
	}
}

// spawn starts a child with the newest wanted launch, and its byte movers.
func (l *loop) spawn() (*proc, error) {
	s := l.s
	io := stdio{in: s.Stdin, out: s.Stdout, err: s.Stderr}
	var theirs []*os.File // the child's ends: closed here once it has them
	var inW, outR, errR *os.File
	var err error
	if l.stdin {
		var r *os.File
		if r, inW, err = os.Pipe(); err == nil {
			io.in, theirs = r, append(theirs, r)
		}
	}
	if err == nil && l.stdout {
		var w *os.File
		if outR, w, err = os.Pipe(); err == nil {
			io.out, theirs = w, append(theirs, w)
			growPipe(outR)
		}
	}
	if err == nil && l.stderr {
		var w *os.File
		if errR, w, err = os.Pipe(); err == nil {
			io.err, theirs = w, append(theirs, w)
		}
	}
	var c *child
	if err == nil {
		c, err = l.spawner.start(s.Spec, l.want, io, s.Guard, l.exited)
	}
	closeAll(theirs...)
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}
	p := &proc{c: c, launch: l.want, seq: l.wantSeq, gen: l.gen}
	l.gen++
	l.procs[c] = p
	if inW != nil {
		p.in = newOutQueue(inW, true, &l.io)
	}
	if outR != nil {
		p.pipes = append(p.pipes, outR)
		p.raw = redact.NewWriter(queueWriter{l.out}, s.Redact, true)
		p.idle = time.AfterFunc(time.Hour, func() { p.raw.FlushIdle() })
		p.idle.Stop()
		l.io.Go(func() {
			readChunks(outR, p, l.chunks, l.quit, func() *outQueue { return l.out })
			outR.Close()
		})
	} else {
		p.outEOF = true
	}
	if errR != nil {
		p.pipes = append(p.pipes, errR)
		l.io.Go(func() {
			l.copyStderr(errR)
			errR.Close()
		})
	}
	l.pipes = append(l.pipes, p.pipes...)
	s.Log.Debug("child started", "pid", c.pid(), "generation", p.gen)
	return p, nil
}

// restarted reports a finished restart to the Restarted hook.
func (l *loop) restarted() {
	if l.s.Restarted != nil {
		l.s.Restarted(l.cur.launch)
	}
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// idleFlush is how long a child's output may pause before what the
// redactor holds back, waiting for the rest of a line, is written anyway
// (all but a tail that could begin a secret): a prompt without a newline,
// or a protocol that does not end its messages with one, must not stall.
const idleFlush = 20 * time.Millisecond

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

// onExit handles a child's exit.
func (l *loop) onExit(c *child) {
	p := l.procs[c]
	delete(l.procs, c)
	p.exited = true
	if c.err != nil {
		l.s.Log.Warn("waiting for the child", "err", c.err)
	}
	l.s.Guard.Reap()
	if p.drain != nil {
		p.drain.Stop()
	}
	if p.in != nil {
		p.in.close()
	}
	if p == l.cur && l.st == restarting {
		l.st = running
		if err := l.startChild(); err != nil {
			l.status, l.err, l.done = exitNoStart, &StartError{err}, true
			return
		}
		l.s.Log.Info("restart finished", "pid", l.cur.c.pid())
		l.restarted()
		l.flushRaw()
		l.converge()
	}
	if !p.outEOF {
		// Bounded: a process outside the child's tree may hold the pipe.
		l.after(pipeGrace, func() { closeAll(p.pipes...) })
		return
	}
	l.gone(p)
}

// pipeGrace is how long the launcher reads a child's output after it exited.
const pipeGrace = 2 * time.Second

// gone handles a child that exited and whose output is all read.
func (l *loop) gone(p *proc) {
	if p != l.cur {
		l.procGone(p) // a draining old child, a new one that failed to come up, or a stopped one
		return
	}
	// The current child ended: on its own, or as the launcher is stopping.
	l.status, l.done = p.c.status, true
}

// exitNoStart is the status when a restart could not start the child.
const exitNoStart = 127

// onUpdate makes launch the newest wanted one.
func (l *loop) onUpdate(launch Launch) {
	if l.st == stopping {
		return
	}
	l.want = launch
	l.wantSeq++
	l.converge()
}

// converge replaces a child that does not run the newest wanted launch,
// unless a restart is under way: when it ends, it converges again.
func (l *loop) converge() {
	if l.st != running || l.cur.seq == l.wantSeq {
		return
	}
	if l.mode == undecided {
		l.decide(raw) // a restart before the client spoke: nothing to replay
	}
	if l.mode == mcp {
		if l.sess.next == nil {
			l.restartMCP()
		}
		return
	}
	// Without MCP there is no session to keep: stop, then start. The
	// client's bytes wait meanwhile.
	l.st = restarting
	l.barrier = newBarrier()
	l.dest.Store(l.barrier)
	l.s.Log.Info("restart begun", "pid", l.cur.c.pid(), "signal", l.s.Spec.StopSignal)
	l.cur.c.stop(l.s.Spec.StopSignal)
}

// retryLater tries a failed restart again after a growing pause (2s to a
// minute), unless a retry is already pending. It restarts with whatever is
// newest then.
func (l *loop) retryLater() {
	if l.retryT != nil {
		return
	}
	l.retry++
	base := l.s.retryBase
	if base == 0 {
		base = time.Second
	}
	var t *time.Timer
	t = l.after(min(base<<min(l.retry, 6), time.Minute), func() {
		if l.retryT == t {
			l.retryT = nil
		}
		l.converge()
	})
	l.retryT = t
}

// onSignal forwards a signal: a stop signal to every child's tree (the
// launcher then ends with the current child), others to the current child.
func (l *loop) onSignal(sig os.Signal) {
	switch {
	case isIn(sig, childSignal):
		l.s.Guard.Reap()
	case isIn(sig, stopSignals):
		l.s.Log.Debug("forwarding signal and waiting for the child", "signal", sig)
		l.stopAll(sig.(syscall.Signal))
	default:
		_ = l.cur.c.signal(sig.(syscall.Signal), false)
	}
}

// stopAll stops every child; Run ends when the current one has.
func (l *loop) stopAll(sig syscall.Signal) {
	l.st = stopping
	if l.retryT != nil {
		l.retryT.Stop()
		l.retryT = nil
	}
	for _, p := range l.procs {
		p.c.stop(sig)
	}
}

// after runs f on the loop after d, unless Run has ended.
func (l *loop) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		select {
		case l.timeouts <- f:
		case <-l.quit:
		}
	})
}

// shutdown ends what Run started: the children still running (a draining or
// starting MCP server), then the byte movers.
func (l *loop) shutdown() {
	for len(l.procs) > 0 {
		for _, p := range l.procs {
			p.c.kill()
		}
		c := <-l.exited
		if p := l.procs[c]; p.in != nil {
			p.in.close()
		}
		delete(l.procs, c)
	}
	l.spawner.close()
	if l.out != nil {
		l.out.close()
	}
	close(l.quit)
	if l.unblock != nil {
		l.unblock()
	}
	// A process outside a child's tree may hold its pipes open: bounded.
	t := time.AfterFunc(pipeGrace, func() { closeAll(l.pipes...) })
	defer t.Stop()
	l.io.Wait()
}

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
		p.idle.Stop()
		p.raw.Flush()
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
		l.client.buf = append(l.client.buf, ch.data...)
		if !l.detect() {
			return
		}
		ch.data, l.client.buf = l.client.buf, nil
		if l.mode == mcp {
			ch.data = skipBlank(ch.data) // a JSON-RPC peer need not parse them
		}
	}
	switch l.mode {
	case raw:
		l.client.buf = append(l.client.buf, ch.data...)
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
	if len(l.client.buf) > 0 {
		l.cur.in.push(l.client.buf)
		l.client.buf = nil
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
	b := skipBlank(l.client.buf)
	i := bytes.IndexByte(b, '\n')
	switch {
	case i >= 0 && opensMCP(b[:i]):
		l.decide(mcp)
	case i >= 0 || l.eof || len(l.client.buf) > l.maxMessage():
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

func isIn(sig os.Signal, set []os.Signal) bool {
	for _, s := range set {
		if s == sig {
			return true
		}
	}
	return false
}

// newBarrier is a queue that is full until lifted: the client's reader
// waits on it while no child can take its bytes (a stop-then-start).
func newBarrier() *outQueue {
	return &outQueue{size: queueLimit}
}

// lift lets the readers waiting on a barrier go on.
func (q *outQueue) lift() {
	q.mu.Lock()
	q.size = 0
	q.freeRoom()
	q.mu.Unlock()
}
