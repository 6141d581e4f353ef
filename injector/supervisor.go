package injector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/backoff"
	"github.com/mcp-secrets/mcp-secrets/launch"
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
	// Conn, if set, is the client instead of the stdio (which then go
	// unused): MCP messages in and out.
	Conn *Conn
	// Restarted, if set, is called on the supervisor's goroutine once a
	// restart has finished, with the launch the child now runs: the sidecar
	// counts restarts and routes to children that run the newest values.
	Restarted func(launch.Launch)

	retryPolicy backoff.Policy // the pause before a failed restart is tried again; zero: 2s doubling to a minute
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

// child is a child process as the loop sees it: its pipes, the requests in
// flight to it, the launch it runs.
type child struct {
	c      *process
	launch launch.Launch
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
	want     launch.Launch
	wantSeq  int
	exited   chan *process
	chunks   chan chunk
	timeouts chan func() // work scheduled by timers, run by the loop
	quit     chan struct{}
	io       sync.WaitGroup // goroutines that move bytes
	children map[*process]*child
	cur      *child
	gen      int
	out      *outQueue                 // the client's stdout
	dest     *atomic.Pointer[outQueue] // where the client's bytes go: its reader (or Conn.Send) waits for room there
	barrier  *outQueue                 // dest while no child takes them (stop-then-start)
	client   lines                     // the client's messages (MCP), split into lines
	pending  []byte                    // the client's bytes not yet handed on (undecided, raw)
	eof      bool                      // the client closed stdin
	status   int
	relay    *relay
	retry    int         // failed MCP restarts in a row
	retryT   *time.Timer // the pending retry, if any
	unblock  func()      // interrupts the read of the client's stdin
	done     bool        // Run returns status and err
	err      error
	pipes    []*os.File // every child's stdout and stderr, launcher's ends
	spawner  *spawner
}

// Run starts the child with first and supervises it until it ends,
// returning its exit status. A value on updates is the newest wanted launch:
// the child is restarted with it. Canceling ctx stops the child.
func (s *Supervisor) Run(ctx context.Context, first launch.Launch, updates <-chan launch.Launch, signals <-chan os.Signal) (int, error) {
	l := &loop{
		s:        s,
		want:     first,
		exited:   make(chan *process),
		chunks:   make(chan chunk),
		timeouts: make(chan func()),
		quit:     make(chan struct{}),
		children: map[*process]*child{},
		relay:    newRelay(),
		spawner:  newSpawner(),
	}
	l.stderr = s.Redact != nil && !IsTerminal(s.Stderr)
	var connIn chan Message
	var connClosed chan struct{}
	if c := s.Conn; c != nil {
		l.stdin, l.stdout, l.mode = true, true, mcp
		l.dest = &c.dest
		connIn, connClosed = c.in, c.closed
		defer close(c.ended)
	} else {
		l.dest = new(atomic.Pointer[outQueue])
		l.stdin = s.MCP != MCPOff && !IsTerminal(s.Stdin)
		l.stdout = l.stdin || s.Redact != nil && !IsTerminal(s.Stdout)
		switch {
		case !l.stdin:
			l.mode = raw
		case s.MCP == MCPOn:
			l.mode = mcp
		}
		if l.stdout {
			w, direct, release := clientOut(s.Stdout)
			defer release()
			l.out = newOutQueue(w, false, direct, &l.io)
		}
		if l.stdin {
			in, interrupt, release := interruptible(s.Stdin)
			defer release()
			l.unblock = interrupt
			l.io.Go(func() { readChunks(in, nil, l.chunks, l.quit, l.dest.Load) })
		}
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
		case next := <-updates:
			l.onUpdate(next)
		case sig := <-signals:
			l.onSignal(sig)
		case ch := <-l.chunks:
			l.onChunk(ch)
		case m := <-connIn:
			l.clientMessage(m.Line, m.Message, nil)
		case <-connClosed:
			connClosed = nil // handled once
			l.eof = true
			l.clientClosed()
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
func (l *loop) setCur(p *child) {
	l.cur = p
	l.dest.Store(p.in)
	if l.barrier != nil {
		l.barrier.lift()
		l.barrier = nil
	}
}

// spawn starts a child with the newest wanted launch, and its byte movers.
func (l *loop) spawn() (*child, error) {
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
	var c *process
	if err == nil {
		c, err = l.spawner.start(s.Spec, l.want, io, s.Guard, l.exited)
	}
	closeAll(theirs...)
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}
	p := &child{c: c, launch: l.want, seq: l.wantSeq, gen: l.gen}
	l.gen++
	l.children[c] = p
	if inW != nil {
		p.in = newOutQueue(inW, true, directWriter(inW), &l.io)
	}
	if outR != nil {
		p.pipes = append(p.pipes, outR)
		if l.out != nil {
			p.raw = redact.NewWriter(queueWriter{l.out}, s.Redact, true)
			p.idle = time.AfterFunc(time.Hour, func() { p.raw.FlushIdle() })
			p.idle.Stop()
		}
		l.io.Go(func() {
			readChunks(outR, p, l.chunks, l.quit, l.outRoom)
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

// outRoom is where a child's stdout goes: its reader waits for room there
// (a Conn delivers without waiting).
func (l *loop) outRoom() *outQueue { return l.out }

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

// onExit handles a child's exit.
func (l *loop) onExit(c *process) {
	p := l.children[c]
	delete(l.children, c)
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
func (l *loop) gone(p *child) {
	if p != l.cur {
		l.childGone(p) // a draining old child, a new one that failed to come up, or a stopped one
		return
	}
	// The current child ended: on its own, or as the launcher is stopping.
	l.status, l.done = p.c.status, true
}

// exitNoStart is the status when a restart could not start the child.
const exitNoStart = 127

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
	for _, p := range l.children {
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
	for len(l.children) > 0 {
		for _, p := range l.children {
			p.c.kill()
		}
		c := <-l.exited
		if p := l.children[c]; p.in != nil {
			p.in.close()
		}
		delete(l.children, c)
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
