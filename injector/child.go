package injector

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Spec says how to start and stop a child.
type Spec struct {
	// OwnGroup puts the child in a process group of its own, so a stop
	// reaches its whole tree. Not when stdin is a terminal: job control
	// needs the child in the foreground group.
	OwnGroup    bool
	StopSignal  syscall.Signal
	StopTimeout time.Duration
}

// child is one started process. Its fields are set before start or by its
// Wait goroutine before done closes; the loop reads them after done.
type child struct {
	cmd    *exec.Cmd
	pgid   int // 0 when the child shares the launcher's group
	cancel context.CancelFunc
	done   chan struct{} // closed when the process and its group are gone
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
// child it started is gone: Pdeathsig fires when the thread that forked a
// child exits, not the process. The supervisor's own goroutine stays free
// to run on any thread (a locked goroutine pays a thread handoff at every
// wakeup).
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	spec   Spec
	launch Launch
	io     stdio
	exited chan<- *child
	reply  chan spawnReply
}

type spawnReply struct {
	c   *child
	err error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		for r := range s.reqs {
			c, err := start(r.spec, r.launch, r.io, r.exited)
			r.reply <- spawnReply{c, err}
		}
	}()
	return s
}

func (s *spawner) start(spec Spec, l Launch, io stdio, exited chan<- *child) (*child, error) {
	reply := make(chan spawnReply)
	s.reqs <- spawnReq{spec, l, io, exited, reply}
	r := <-reply
	return r.c, r.err
}

// close ends the spawner once its children are gone.
func (s *spawner) close() {
	close(s.reqs)
	<-s.done
}

// start starts a child. Run it on the spawner's thread.
func start(spec Spec, l Launch, io stdio, exited chan<- *child) (*child, error) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &child{cancel: cancel, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, l.Argv[0], l.Argv[1:]...)
	cmd.Env = l.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = io.in, io.out, io.err
	cmd.SysProcAttr = sysProcAttr(spec.OwnGroup)
	// Cancel sends the stop signal to the group; WaitDelay later kills the
	// leader, and the Wait goroutine kills what is left of the group.
	cmd.Cancel = func() error { return c.signal(c.stopSig, true) }
	cmd.WaitDelay = spec.StopTimeout
	c.cmd = cmd
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	if spec.OwnGroup {
		c.pgid = cmd.Process.Pid
	}
	go c.wait(ctx, spec, exited)
	return c, nil
}

// wait is the one goroutine that waits for this child.
func (c *child) wait(ctx context.Context, spec Spec, exited chan<- *child) {
	err := c.cmd.Wait()
	c.status = exitStatus(c.cmd.ProcessState)
	var ee *exec.ExitError
	// A stopped child's Wait reports the canceled context: that is the stop.
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) && !errors.Is(err, context.Canceled) {
		c.err = err
	}
	c.reapGroup(ctx, spec)
	c.cancel()
	close(c.done)
	exited <- c
}

// reapGroup stops what is left of the child's group once the leader is gone
// (npx's node, a shell's background jobs): the stop signal, the rest of the
// stop timeout, then SIGKILL. Nothing the child started outlives it.
func (c *child) reapGroup(ctx context.Context, spec Spec) {
	if c.pgid == 0 || !groupAlive(c.pgid) {
		return
	}
	deadline := time.Now().Add(spec.StopTimeout)
	if ctx.Err() != nil {
		deadline = c.stopAt.Add(spec.StopTimeout)
	} else {
		_ = syscall.Kill(-c.pgid, spec.StopSignal) // the leader ended on its own
	}
	for time.Now().Before(deadline) && groupAlive(c.pgid) {
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(-c.pgid, syscall.SIGKILL)
}

// groupAlive reports whether any process is left in the group.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// signal sends sig to the child's group (group) or to the child alone, unless
// they are gone: a group id may be reused once its group is empty.
func (c *child) signal(sig syscall.Signal, group bool) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	if group && c.pgid != 0 {
		return syscall.Kill(-c.pgid, sig)
	}
	return c.cmd.Process.Signal(sig)
}

// stop stops the child: sig to its group now, SIGKILL after the stop
// timeout. A child already stopping gets sig, and keeps its deadline.
func (c *child) stop(sig syscall.Signal) {
	if !c.stopAt.IsZero() {
		_ = c.signal(sig, true)
		return
	}
	c.stopAt = time.Now()
	c.stopSig = sig
	c.cancel()
}

// exitStatus is the code the launcher exits with for a child's end: its own
// code, or 128+N when signal N killed it, as shells report it.
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
