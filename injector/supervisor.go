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
	MCPOff  MCPMode = "off"  // stdio handed to the child as it is
	MCPAuto MCPMode = "auto" // MCP if the client's first message is initialize or server/discover
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

// Supervisor runs a child, forwards signals to it, restarts it when a new
// launch arrives, and ends with it. All of its state belongs to the one
// goroutine that runs Run; each child has exactly one Wait goroutine, and
// the goroutines that move its bytes end before Run returns.
type Supervisor struct {
	Spec Spec
	// The launcher's stdio. With MCPOff (or a terminal on stdin) they are
	// handed to the child as they are; otherwise the launcher sits between.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	MCP            MCPMode
	// Redact holds the values to hide from what the child prints, in MCP
	// mode (nil: none).
	Redact *redact.Set
	// ReadyTimeout bounds a restarted MCP server's replay; 0 means 30s.
	ReadyTimeout time.Duration
	Log          *slog.Logger
	// Reap makes the supervisor reap orphans, as PID 1 must.
	Reap bool
	// Restarted, if set, is called on the supervisor's goroutine once a
	// restart has finished, with the launch the child now runs: the sidecar
	// counts restarts and routes to children that run the newest values.
	Restarted func(Launch)
}

// Stop signals: the launcher forwards them to the child's group and ends
// when the child does (how MCP clients stop servers). Other forwarded
// signals go to the child alone.
var (
	stopSignals    = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}
	forwardSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGQUIT}
)

// Signals are the signals the caller should relay to Run (os/signal.Notify);
// with reap, SIGCHLD too.
func Signals(reap bool) []os.Signal {
	s := append(append([]os.Signal{}, stopSignals...), forwardSignals...)
	if reap {
		s = append(s, syscall.SIGCHLD)
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
	passthrough mode = iota // the child has the launcher's stdio
	undecided               // piped; waiting for the client's first line
	raw                     // piped, bytes copied as they are
	mcp                     // piped, MCP messages relayed line by line
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
	c       *child
	launch  Launch
	gen     int       // 0 for the first child, then one more per restart
	in      *outQueue // its stdin, when piped
	buf     []byte    // its stdout after the last newline (mcp)
	pending int       // client requests sent to it and not answered
	drain   *time.Timer
	stopped bool // asked to stop after draining
	// A child is gone once it has exited and its stdout is read to the end:
	// its last replies may still be in the pipe when its exit is seen.
	exited, outEOF bool
	pipes          []*os.File // the launcher's ends of its stdout and stderr
}

// loop is one Run: the state the supervisor goroutine owns.
type loop struct {
	s        *Supervisor
	mode     mode
	st       state
	exited   chan *child
	chunks   chan chunk
	timeouts chan func() // work scheduled by timers, run by the loop
	quit     chan struct{}
	io       sync.WaitGroup // goroutines that move bytes
	procs    map[*child]*proc
	cur      *proc
	gen      int
	next     *Launch // the launch to restart with, once the current restart is done
	out      *outQueue
	stderrMC atomic.Bool // the child's stderr is redacted line by line (mcp, or not decided yet)
	client   []byte      // client bytes not yet handled: a partial line, or everything while undecided
	eof      bool        // the client closed stdin
	status   int
	sess     *session
	retry    int    // failed MCP restarts in a row
	unblock  func() // interrupts the read of the client's stdin
	done     bool   // Run returns status and err
	err      error
	pipes    []*os.File // every child's stdout and stderr, launcher's ends
	spawner  *spawner
}

// Run starts the child with launch and supervises it until it ends,
// returning its exit status. A value on updates restarts the child with it.
// Canceling ctx stops the child.
func (s *Supervisor) Run(ctx context.Context, launch Launch, updates <-chan Launch, signals <-chan os.Signal) (int, error) {
	l := &loop{
		s:        s,
		exited:   make(chan *child),
		chunks:   make(chan chunk),
		timeouts: make(chan func()),
		quit:     make(chan struct{}),
		procs:    map[*child]*proc{},
		sess:     newSession(),
		spawner:  newSpawner(),
	}
	if s.MCP != MCPOff && !IsTerminal(s.Stdin) {
		l.mode = undecided
		if s.MCP == MCPOn {
			l.mode = mcp
		}
		l.stderrMC.Store(true)
		stdout, release := nonBlockingDup(s.Stdout)
		defer release()
		l.out = newOutQueue(stdout, false, &l.io)
		in, interrupt, release := interruptible(s.Stdin)
		defer release()
		l.unblock = interrupt
		l.io.Go(func() { readChunks(in, nil, l.chunks, l.quit) })
	}
	defer l.shutdown()

	if err := l.startChild(launch); err != nil {
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

// startChild starts a child with launch, piped unless the mode is
// passthrough, and makes it the current one.
func (l *loop) startChild(launch Launch) error {
	p, err := l.spawn(launch)
	if err != nil {
		return err
	}
	l.cur = p
	return nil
}

// spawn starts a child and its byte movers.
func (l *loop) spawn(launch Launch) (*proc, error) {
	s := l.s
	if l.mode == passthrough {
		c, err := l.spawner.start(s.Spec, launch, stdio{in: s.Stdin, out: s.Stdout, err: s.Stderr}, l.exited)
		if err != nil {
			return nil, err
		}
		p := &proc{c: c, launch: launch, gen: l.gen, outEOF: true}
		l.procs[c] = p
		l.gen++
		s.Log.Debug("child started", "pid", c.cmd.Process.Pid)
		return p, nil
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	growPipe(outR)
	c, err := l.spawner.start(s.Spec, launch, stdio{in: inR, out: outW, err: errW}, l.exited)
	closeAll(inR, outW, errW) // the child's ends
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}
	p := &proc{c: c, launch: launch, gen: l.gen, in: newOutQueue(inW, true, &l.io), pipes: []*os.File{outR, errR}}
	l.pipes = append(l.pipes, outR, errR)
	l.procs[c] = p
	l.gen++
	l.io.Go(func() {
		readChunks(outR, p, l.chunks, l.quit)
		outR.Close()
	})
	l.io.Go(func() {
		l.copyStderr(errR)
		errR.Close()
	})
	s.Log.Debug("child started", "pid", c.cmd.Process.Pid, "generation", p.gen)
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
		f.Close()
	}
}

// copyStderr relays a child's stderr: redacted line by line while the
// stdio may be MCP, as it is once it is known not to be.
func (l *loop) copyStderr(r io.Reader) {
	rw := redact.NewWriter(l.s.Stderr, l.s.Redact, false)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if l.stderrMC.Load() {
				rw.Write(buf[:n])
			} else {
				rw.Flush()
				l.s.Stderr.Write(buf[:n])
			}
		}
		if err != nil {
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
	if l.s.Reap {
		reapOrphans(c.cmd.Process.Pid)
	}
	if p.drain != nil {
		p.drain.Stop()
	}
	if p.in != nil {
		p.in.close()
	}
	if p == l.cur && l.st == restarting {
		launch := *l.next
		l.next = nil
		l.st = running
		if err := l.startChild(launch); err != nil {
			l.status, l.err, l.done = exitNoStart, &StartError{err}, true
			return
		}
		l.s.Log.Info("restart finished", "pid", l.cur.c.cmd.Process.Pid)
		l.restarted()
		l.flushRaw()
	}
	if !p.outEOF {
		// Bounded: a process outside the child's group may hold the pipe.
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

// onUpdate restarts the child with a new launch.
func (l *loop) onUpdate(launch Launch) {
	if l.st == stopping {
		return
	}
	if l.mode == mcp {
		l.restartMCP(launch)
		return
	}
	// Without MCP there is no session to keep: stop, then start.
	l.next = &launch
	if l.st == running {
		l.st = restarting
		l.s.Log.Info("restart begun", "pid", l.cur.c.cmd.Process.Pid, "signal", l.s.Spec.StopSignal)
		if l.mode == undecided {
			l.decide(raw) // a restart before the client spoke: nothing to replay
		}
		l.cur.c.stop(l.s.Spec.StopSignal)
	}
}

// onSignal forwards a signal: a stop signal to every child's group (the
// launcher then ends with the current child), others to the current child.
func (l *loop) onSignal(sig os.Signal) {
	switch {
	case sig == syscall.SIGCHLD:
		reapOrphans(l.cur.c.cmd.Process.Pid)
	case isStop(sig):
		l.s.Log.Debug("forwarding signal and waiting for the child", "signal", sig)
		l.stopAll(sig.(syscall.Signal))
	default:
		_ = l.cur.c.signal(sig.(syscall.Signal), false)
	}
}

// stopAll stops every child; Run ends when the current one has.
func (l *loop) stopAll(sig syscall.Signal) {
	l.st = stopping
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
			p.c.stop(syscall.SIGKILL)
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
	// A process outside a child's group may hold its pipes open: bounded.
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
	if ch.eof {
		ch.from.outEOF = true
		if ch.from.exited {
			l.gone(ch.from)
		}
		return
	}
	switch l.mode {
	case undecided:
		if ch.from == l.cur {
			l.decide(raw) // the child spoke first: not an MCP server
		}
		l.out.push(ch.data)
	case raw:
		l.out.push(ch.data)
	case mcp:
		l.childBytes(ch.from, ch.data)
	}
}

// fromClient handles bytes from the launcher's stdin.
func (l *loop) fromClient(ch chunk) {
	l.client = append(l.client, ch.data...)
	if ch.eof {
		l.eof = true
	}
	if l.mode == undecided {
		i := bytes.IndexByte(l.client, '\n')
		switch {
		case i >= 0 && startsMCP(l.client[:i]):
			l.decide(mcp)
		case i >= 0 || l.eof:
			l.decide(raw)
		default:
			return // wait for the first line
		}
	}
	switch l.mode {
	case raw:
		l.flushRaw()
	case mcp:
		from := max(0, len(l.client)-len(ch.data)) // the rest was searched before
		for {
			i := bytes.IndexByte(l.client[from:], '\n')
			if i < 0 {
				break
			}
			line := l.client[:from+i+1]
			l.client = l.client[from+i+1:]
			from = 0
			l.clientLine(line)
		}
		if l.eof {
			if len(bytes.TrimSpace(l.client)) > 0 {
				l.clientLine(append(l.client, '\n'))
			}
			l.client = nil
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
	if len(l.client) > 0 {
		l.cur.in.push(l.client)
		l.client = nil
	}
	if l.eof {
		l.cur.in.close()
	}
}

// decide fixes the stdio mode after the first client line (or the child's
// first output).
func (l *loop) decide(m mode) {
	l.mode = m
	l.stderrMC.Store(m == mcp)
	l.s.Log.Debug("stdio", "mcp", m == mcp)
}

func isStop(sig os.Signal) bool {
	for _, s := range stopSignals {
		if s == sig {
			return true
		}
	}
	return false
}
