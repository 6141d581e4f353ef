//go:build unix

package injector

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A child that dies ends Run at once, though the client keeps stdin open:
// the read of the client's stdin is interrupted. (Asking whether stdin is a
// terminal once put the pipe in blocking mode, where no deadline reaches a
// read, and Run waited for the client to close it.)
func TestChildDeathEndsRun(t *testing.T) {
	h := newHarness(t, fake("v0"), nil)
	h.initialize()
	var pid int
	for _, l := range strings.Split(h.log.String(), "\n") {
		if i := strings.Index(l, "pid="); i >= 0 {
			fmt.Sscanf(l[i:], "pid=%d", &pid)
		}
	}
	if pid == 0 {
		t.Fatal("no child pid in the log")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its child was killed")
	}
	if h.code != 128+int(syscall.SIGKILL) || h.err != nil {
		t.Errorf("Run = %d, %v; want 137", h.code, h.err)
	}
}
