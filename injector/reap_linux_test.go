package injector

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// As PID 1 the guard reaps orphans, and never a child a supervisor waits
// for: during a restart two children overlap, and both Waits must see their
// own exits.
func TestReaperLeavesOwnedChildren(t *testing.T) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	sup := &Supervisor{Guard: NewGuard(nil, true, nil)}
	h := newHarness(t, fake("v0"), sup, sigs)
	h.initialize()
	for i := 1; i <= 5; i++ {
		h.updates <- fake(fmt.Sprintf("v%d", i))
		h.settle(fmt.Sprintf("v%d", i), 10*time.Second)
	}
	h.waitLog("restart finished", 5)
	time.Sleep(500 * time.Millisecond) // the old children's exits
	if strings.Contains(h.log.String(), "waiting for the child") {
		t.Errorf("a child's Wait failed: its exit was reaped by someone else")
	}
}

// A zombie the guard owns is left to its Wait; one it does not own (the
// control) is reaped, and its Wait fails.
func TestReaperSkipsOwnedPids(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	for _, owned := range []bool{true, false} {
		g := NewGuard(nil, true, nil)
		cmd := exec.Command("true")
		g.lock()
		err := cmd.Start()
		if owned {
			g.own(cmd.Process.Pid)
		}
		g.unlock()
		if err != nil {
			t.Fatal(err)
		}
		waitZombie(t, cmd.Process.Pid)
		g.Reap()
		err = cmd.Wait()
		switch {
		case owned && err != nil:
			t.Errorf("owned child: Wait after Reap: %v", err)
		case !owned && (err == nil || !strings.Contains(err.Error(), "no child processes")):
			t.Errorf("control, a child not owned: Wait after Reap: %v, want ECHILD", err)
		}
	}
}

func waitZombie(t *testing.T, pid int) {
	t.Helper()
	stat := fmt.Sprintf("/proc/%d/stat", pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(stat)
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not become a zombie")
		}
	}
}
