package injector

import (
	"log/slog"
	"os/exec"
	"sync"
)

// Guard keeps the launcher's children from outliving it, however it ends,
// for every supervisor of the process (serve has one per session). On Unix
// a watchdog process, started once, learns of the launcher's end from a
// pipe only the launcher holds and kills every process group still
// registered with it: the parent-death signal reaches only the direct
// child, and macOS has none. On Windows each child's Job Object does it.
// As PID 1 the guard also reaps orphans, leaving alone every pid whose Wait
// belongs to a supervisor. A nil *Guard guards nothing.
type Guard struct {
	log    *slog.Logger
	mu     sync.Mutex
	owned  map[int]bool // pids with a Wait of their own
	reap   bool
	wd     *watchdog // nil: none (Windows, or it could not start)
	warned bool
	// started is closed once the watchdog process runs or could not
	// start (nil: no watchdog).
	started chan struct{}
}

// NewGuard starts the guard. watchdog is the command that runs
// WatchdogMain (this binary, re-executed); nil for none. reap makes it reap
// orphans (PID 1).
func NewGuard(watchdog *exec.Cmd, reap bool, log *slog.Logger) *Guard {
	g := &Guard{log: log, owned: map[int]bool{}, reap: reap}
	if watchdog != nil && needWatchdog {
		wd, err := startWatchdog(watchdog, g)
		if err != nil {
			g.degraded("the watchdog could not start (" + err.Error() + "): processes a child starts may outlive the launcher if it is killed")
		}
		g.wd = wd
	}
	return g
}

// Close ends the watchdog: what is still registered is killed.
func (g *Guard) Close() {
	if g == nil || g.wd == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wd.close()
}

func (g *Guard) lock() {
	if g != nil {
		g.mu.Lock()
	}
}

func (g *Guard) unlock() {
	if g != nil {
		g.mu.Unlock()
	}
}

// ready waits until the watchdog runs (or could not start). It starts in
// the background, beside the resolution, but no child may start before it:
// a launcher killed in between would leave the child's group unguarded.
func (g *Guard) ready() {
	if g != nil && g.started != nil {
		<-g.started
	}
}

// own claims pid for a Wait of its own. Call it with the lock held.
func (g *Guard) own(pid int) {
	if g != nil {
		g.owned[pid] = true
	}
}

// disown gives pid up once its Wait has returned.
func (g *Guard) disown(pid int) {
	if g == nil {
		return
	}
	g.mu.Lock()
	delete(g.owned, pid)
	g.mu.Unlock()
}

// watch registers a child's process group with the watchdog.
func (g *Guard) watch(pgid int) {
	if g == nil || g.wd == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wd.send('+', pgid)
}

// unwatch takes a group that is gone off the watchdog's list.
func (g *Guard) unwatch(pgid int) {
	if g == nil || g.wd == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wd.send('-', pgid)
}

// Reap waits for the orphans PID 1 inherits, never for a pid it does not
// own.
func (g *Guard) Reap() {
	if g == nil || !g.reap {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	reapOrphans(func(pid int) bool { return g.owned[pid] })
}

// degraded says once that containment is weaker than promised.
func (g *Guard) degraded(msg string) {
	if g == nil || g.log == nil {
		return
	}
	g.mu.Lock()
	warned := g.warned
	g.warned = true
	g.mu.Unlock()
	if !warned {
		g.log.Warn(msg)
	}
}
