//go:build unix

package injector

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
)

// needWatchdog: on Unix only a process that outlives the launcher can stop
// the grandchildren of a launcher killed by SIGKILL.
const needWatchdog = true

// watchdog is the launcher's end of the watchdog process: a pipe it reads
// "+PGID" and "-PGID" lines from. Only the launcher holds the write end
// (close-on-exec), so the watchdog reads EOF exactly when the launcher is
// gone, however it ended.
type watchdog struct {
	w   *os.File
	err error // the first failed write: the watchdog is gone
}

// startWatchdog starts cmd as the watchdog: in a process group of its own,
// so a signal to the launcher's group does not reach it, with no parent-death
// signal and none of the launcher's stdio (it must not hold the client's
// stdout open). It starts in the background, while the launcher resolves;
// g.ready waits for it before a child starts.
func startWatchdog(cmd *exec.Cmd, g *Guard) (*watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, nil, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g.started = make(chan struct{})
	go func() {
		g.mu.Lock()
		err := cmd.Start()
		if err == nil {
			g.owned[cmd.Process.Pid] = true
		}
		g.mu.Unlock()
		close(g.started)
		r.Close()
		if err != nil {
			g.degraded("the watchdog could not start (" + err.Error() + "): processes a child starts may outlive the launcher if it is killed")
			return
		}
		cmd.Wait()
		g.disown(cmd.Process.Pid)
	}()
	return &watchdog{w: w}, nil
}

func (wd *watchdog) send(op byte, pgid int) {
	if wd.err != nil {
		return
	}
	if _, err := fmt.Fprintf(wd.w, "%c%d\n", op, pgid); err != nil {
		wd.err = err
	}
}

func (wd *watchdog) close() { wd.w.Close() }

// WatchdogMain is the watchdog process: it keeps the set of process groups
// the launcher registers on in, and when in ends (the launcher is gone)
// kills every group still in the set. Terminal and stop signals do not end
// it: only the launcher's end does.
func WatchdogMain(in io.Reader) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	groups := map[int]bool{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 {
			continue
		}
		pgid, err := strconv.Atoi(line[1:])
		if err != nil || pgid <= 1 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pgid] = true
		case '-':
			delete(groups, pgid)
		}
	}
	for pgid := range groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return 0
}
