package injector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"syscall"
	"time"
)

// Supervisor runs a child, forwards signals to it, restarts it when a new
// environment arrives, and ends with it. All of its state belongs to the one
// goroutine that runs Run; each child has exactly one Wait goroutine.
type Supervisor struct {
	Spec Spec
	// The child's stdio; *os.File values are handed to it as they are.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Log            *slog.Logger
	// Reap makes the supervisor reap orphans, as PID 1 must.
	Reap bool
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

type state int

const (
	running    state = iota
	restarting       // the old child is stopping; the new one starts when it is gone
	stopping         // the launcher is ending with the child
)

// StartError is a child that could not be started.
type StartError struct{ Err error }

func (e *StartError) Error() string { return fmt.Sprintf("starting the child: %v", e.Err) }
func (e *StartError) Unwrap() error { return e.Err }

// Launch is what a child starts with.
type Launch struct {
	Argv, Env []string
}

// Run starts the child with launch and supervises it until it ends,
// returning its exit status. A value on updates restarts the child with it.
// Canceling ctx stops the child.
func (s *Supervisor) Run(ctx context.Context, launch Launch, updates <-chan Launch, signals <-chan os.Signal) (int, error) {
	// Children are started from this thread, which stays put until they are
	// gone: Pdeathsig fires when the starting thread exits.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	exited := make(chan *child)
	stdio := stdio{in: s.Stdin, out: s.Stdout, err: s.Stderr}
	cur, err := start(s.Spec, launch, stdio, exited)
	if err != nil {
		return 0, &StartError{err}
	}
	s.Log.Debug("child started", "pid", cur.cmd.Process.Pid)
	st := running
	var next Launch // what the child restarts with
	var restartAt time.Time
	for {
		select {
		case c := <-exited:
			if c.err != nil {
				s.Log.Warn("waiting for the child", "err", c.err)
			}
			if s.Reap {
				reapOrphans(c.cmd.Process.Pid)
			}
			if st != restarting {
				return c.status, nil
			}
			cur, err = start(s.Spec, next, stdio, exited)
			if err != nil {
				return 0, &StartError{err}
			}
			st = running
			s.Log.Info("restart finished", "pid", cur.cmd.Process.Pid, "took", time.Since(restartAt).Round(time.Millisecond))
		case l := <-updates:
			if st == stopping {
				continue
			}
			next = l
			if st == running {
				st = restarting
				restartAt = time.Now()
				s.Log.Info("restart begun", "pid", cur.cmd.Process.Pid, "signal", s.Spec.StopSignal)
				cur.stop(s.Spec.StopSignal)
			}
		case sig := <-signals:
			switch {
			case sig == syscall.SIGCHLD:
				reapOrphans(cur.cmd.Process.Pid)
			case isStop(sig):
				s.Log.Debug("forwarding signal and waiting for the child", "signal", sig)
				st = stopping
				cur.stop(sig.(syscall.Signal))
			default:
				_ = cur.signal(sig.(syscall.Signal), false)
			}
		case <-ctx.Done():
			st = stopping
			cur.stop(s.Spec.StopSignal)
		}
	}
}

func isStop(sig os.Signal) bool {
	for _, s := range stopSignals {
		if s == sig {
			return true
		}
	}
	return false
}
