//go:build unix

package injector

import (
	"os"
	"syscall"
)

// tree is the child's process group, when it has one of its own (pgid 0:
// it shares the launcher's, as at a terminal).
type tree struct {
	pid, pgid int
}

func sysProcAttr(ownGroup bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: ownGroup}
	setParentDeath(a)
	return a
}

// hold makes the child's group one the guard's watchdog kills should the
// launcher end without stopping it.
func (t *tree) hold(pid int, ownGroup bool, g *Guard) error {
	t.pid = pid
	if ownGroup {
		t.pgid = pid
		g.watch(pid)
	}
	return nil
}

// release tells the watchdog the group is gone: its id may be reused.
func (t *tree) release(g *Guard) {
	if t.pgid != 0 {
		g.unwatch(t.pgid)
	}
}

// alive reports whether any process is left in the group.
func (t *tree) alive() bool {
	return t.pgid != 0 && syscall.Kill(-t.pgid, 0) == nil
}

func (t *tree) signal(sig syscall.Signal) error {
	if t.pgid == 0 {
		return syscall.Kill(t.pid, sig)
	}
	return syscall.Kill(-t.pgid, sig)
}

func (t *tree) kill() error { return t.signal(syscall.SIGKILL) }

func signalOne(p *os.Process, sig syscall.Signal) error { return p.Signal(sig) }

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
