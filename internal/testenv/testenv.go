// Package testenv starts the real servers the tests run against, on
// 127.0.0.1, owned by the test that asked for them: a HashiCorp Vault dev
// server or a file-backed one that survives restarts (Vault, VaultFile), a
// throwaway PostgreSQL cluster (Postgres), and the kumo AWS emulator
// in-process (Kumo).
//
// Project rule: a server that cannot start fails the test with the reason;
// it never skips. The one exception is -short, where a missing server binary
// skips instead (see unavailable).
//
// Every process is started in its own process group, killed with that group
// on t.Cleanup (even when the test failed), and on Linux carries Pdeathsig
// so it also dies if the test binary itself is killed (e.g. by -timeout)
// before cleanup runs. Nothing here writes secrets to disk besides what the
// servers store in their own temp dirs, which are removed on cleanup.
//
// The tests run on Linux (proc_linux.go); the package compiles for macOS
// and Windows too, with what those platforms offer (proc_*.go).
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process can take it before the caller binds it, so servers started here
// retry with a new port when the bind fails (see startRetryingPort).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: no free port on 127.0.0.1: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// EnvWithout returns the test process's environment minus every variable
// whose name starts with one of prefixes, so a developer's VAULT_TOKEN,
// PGHOST or AWS_PROFILE cannot leak into a server or client under test.
func EnvWithout(prefixes ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// unavailable reports a missing prerequisite (a server binary): a failure,
// except under -short where the project allows skipping.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if testing.Short() {
		t.Skipf("testenv (-short): "+format, args...)
	}
	t.Fatalf("testenv: "+format, args...)
}

// readyTimeout bounds how long a server may take to answer after start.
const readyTimeout = 30 * time.Second

// pollEvery is how often readiness is polled: servers here come up in tens of
// milliseconds, so a coarse interval would dominate the start time.
const pollEvery = 5 * time.Millisecond

// errAddrInUse marks a start that failed because another process took the
// port between FreePort and the server's bind.
var errAddrInUse = errors.New("address already in use")

// startRetryingPort calls start with fresh ports until it succeeds or fails
// for a reason other than a lost port race.
func startRetryingPort(start func(port int) error) error {
	var err error
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		if err = start(port); !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return fmt.Errorf("gave up after 5 port races: %w", err)
}

// proc is one started server process, in its own process group.
type proc struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // cmd.Wait's result; read only after done is closed
}

// startProc starts name with args in a process group of its own; as, when
// non-nil, runs it as another user (used to run PostgreSQL as user postgres
// when the tests run as root).
func startProc(name string, args, env []string, as *runAs) (*proc, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out := &tailBuffer{max: 32 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr(as, true)
	// Output goes through a pipe; do not let a stray grandchild that keeps
	// it open block Wait forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the whole process group, waits for the leader to be reaped
// and, briefly, for the rest of the group to die too, so ports and files are
// released when cleanup returns.
func (p *proc) kill() {
	killGroup(p.cmd.Process)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		// The kernel does not take this long to kill; nothing more to do.
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(pollEvery) {
		if !groupLive(p.pid()) {
			return
		}
	}
}

// exitError describes an early exit, with the output tail for the reason.
func (p *proc) exitError(what string) error {
	<-p.done
	return fmt.Errorf("%s exited during start-up (%v); output tail:\n%s", what, p.err, p.out.String())
}

// tailBuffer keeps the last max bytes written to it: enough of a server's
// output to explain a failed start, bounded for chatty servers.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
