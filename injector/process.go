package injector

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/mcp-secrets/mcp-secrets/launch"
)

// Spec says how to start and stop a child.
type Spec struct {
	// OwnGroup puts the child's whole tree where a stop reaches it: a process
	// group of its own (Unix), a Job Object (Windows). Not when stdin is a
	// terminal on Unix: job control needs the child in the foreground group.
	OwnGroup    bool
	StopSignal  syscall.Signal // Unix; Windows stops with CTRL_BREAK_EVENT
	StopTimeout time.Duration
}

// process is one started child process and its one Wait. Its fields are set
// before start or by its Wait goroutine before done closes; the loop reads
// them after done.
type process struct {
	cmd    *exec.Cmd
	tree   tree // the child and what it started: its group or job
	guard  *Guard
	cancel context.CancelFunc
	done   chan struct{} // closed when the process and its tree are gone
	status int           // exit code (128+N for signal N), valid after done
	err    error         // a Wait error other than the exit status
	// stopAt and stopSig are set by the first stop, before cancel, so Cancel
	// and the Wait goroutine read them after the context is done.
	stopAt  time.Time
	stopSig syscall.Signal
}

// stdio is what a child's standard streams connect to.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// spawner starts children from one locked OS thread that lives until every
// child it started is gone: Linux's parent-death signal fires when the
// thread that forked a child exits, not the process. The supervisor's own
// goroutine stays free to run on any thread (a locked goroutine pays a
// thread handoff at every wakeup).
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	spec   Spec
	launch launch.Launch
	io     stdio
	guard  *Guard
	exited chan<- *process
	reply  chan spawnReply
}

type spawnReply struct {
	c   *process
	err error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		for r := range s.reqs {
			c, err := start(r.spec, r.launch, r.io, r.guard, r.exited)
			r.reply <- spawnReply{c, err}
		}
	}()
	return s
}

func (s *spawner) start(spec Spec, l launch.Launch, io stdio, g *Guard, exited chan<- *process) (*process, error) {
	reply := make(chan spawnReply)
	s.reqs <- spawnReq{spec, l, io, g, exited, reply}
	r := <-reply
	return r.c, r.err
}

// close ends the spawner once its children are gone.
func (s *spawner) close() {
	close(s.reqs)
	<-s.done
}

// start starts a child. Run it on the spawner's thread.
func start(spec Spec, l launch.Launch, io stdio, g *Guard, exited chan<- *process) (*process, error) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &process{cancel: cancel, done: make(chan struct{}), guard: g}
	cmd := exec.CommandContext(ctx, l.Argv[0], l.Argv[1:]...)
	cmd.Env = l.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = io.in, io.out, io.err
	cmd.SysProcAttr = sysProcAttr(spec.OwnGroup)
	// Cancel is the stop: the stop signal to the tree. WaitDelay later
	// kills the leader, and the Wait goroutine kills what is left.
	cmd.Cancel = func() error { return c.signal(c.stopSig, true) }
	cmd.WaitDelay = spec.StopTimeout
	c.cmd = cmd
	// The guard's reaper must never wait for a child whose Wait is ours:
	// the start and the claim on its pid happen under the guard's lock.
	g.ready()
	g.lock()
	err := cmd.Start()
	if err == nil {
		g.own(cmd.Process.Pid)
	}
	g.unlock()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := c.tree.hold(cmd.Process.Pid, spec.OwnGroup, g); err != nil {
		c.kill()
		cmd.Wait()
		g.disown(cmd.Process.Pid)
		cancel()
		return nil, err
	}
	go c.wait(ctx, spec, exited)
	return c, nil
}

// wait is the one goroutine that waits for this child.
func (c *process) wait(ctx context.Context, spec Spec, exited chan<- *process) {
	err := c.cmd.Wait()
	c.guard.disown(c.cmd.Process.Pid)
	c.status = exitStatus(c.cmd.ProcessState)
	var ee *exec.ExitError
	// A stopped child's Wait reports the canceled context: that is the stop.
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) && !errors.Is(err, context.Canceled) {
		c.err = err
	}
	c.sweep(ctx, spec)
	c.tree.release(c.guard)
	c.cancel()
	close(c.done)
	exited <- c
}

// sweep stops what is left of the child's tree once the leader is gone
// (npx's node, a shell's background jobs): the stop signal, the rest of
// the stop timeout, then a kill, and only while something is left.
func (c *process) sweep(ctx context.Context, spec Spec) {
	if !c.tree.alive() {
		return
	}
	deadline := time.Now().Add(spec.StopTimeout)
	if ctx.Err() != nil {
		deadline = c.stopAt.Add(spec.StopTimeout)
	} else {
		_ = c.tree.signal(spec.StopSignal) // the leader ended on its own
	}
	for time.Now().Before(deadline) && c.tree.alive() {
		time.Sleep(10 * time.Millisecond)
	}
	if c.tree.alive() {
		_ = c.tree.kill()
	}
}

// signal sends sig to the child's tree (tree) or to the child alone, unless
// it is gone: a group id may be reused once its group is empty.
func (c *process) signal(sig syscall.Signal, tree bool) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	if tree {
		return c.tree.signal(sig)
	}
	return signalOne(c.cmd.Process, sig)
}

// kill ends the child's tree at once.
func (c *process) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	if c.tree.kill() != nil {
		_ = c.cmd.Process.Kill()
	}
}

// stop stops the child: sig to its tree now, a kill after the stop
// timeout. A child already stopping gets sig, and keeps its deadline.
func (c *process) stop(sig syscall.Signal) {
	if !c.stopAt.IsZero() {
		_ = c.signal(sig, true)
		return
	}
	c.stopAt = time.Now()
	c.stopSig = sig
	c.cancel()
}

// pid is the child's process id, for logs.
func (c *process) pid() int { return c.cmd.Process.Pid }
