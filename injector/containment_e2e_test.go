//go:build linux

package injector_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// procsWith lists the processes whose command line holds marker.
func procsWith(marker string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		if st, err := os.ReadFile(d + "/stat"); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && bytes.HasPrefix(st[i+1:], []byte(" Z")) {
				continue // a zombie has ended; its parent has not waited yet
			}
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		pids = append(pids, pid)
	}
	return pids
}

// workers is a shell that starts two background sleepers that never read
// stdin, found again by a marker in their command line (only theirs: the
// shell has it in its environment, as $M).
func workers(t *testing.T) (marker string, argv []string) {
	marker = fmt.Sprintf("9%06d.%03d", time.Now().UnixNano()/1000%1000000, os.Getpid()%1000)
	return marker, []string{"sh", "-c", "sleep $M & sleep $M & wait"}
}

func killAll(pids []int) {
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitCount waits until n processes carry marker.
func waitCount(t *testing.T, marker string, n int, within time.Duration) {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("%d processes with %s", n, marker), within, func() bool { return len(procsWith(marker)) == n })
}

// kill -9 of the launcher leaves none of its child's tree: not the child
// (the parent-death signal), not the grandchildren in its group (the
// watchdog). The control shows the same tree without the launcher survives
// its parent's kill -9, so the check would see survivors.
func TestKill9LeavesNoOrphan(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	cli := testenv.CLI(t)

	t.Run("control", func(t *testing.T) {
		marker, argv := workers(t)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "M="+marker)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitCount(t, marker, 2, 10*time.Second)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		time.Sleep(300 * time.Millisecond)
		left := procsWith(marker)
		killAll(left)
		if len(left) != 2 {
			t.Fatalf("without a launcher, %d of 2 workers survived their parent's kill -9; the check cannot see survivors", len(left))
		}
	})

	t.Run("run", func(t *testing.T) {
		marker, argv := workers(t)
		cmd := exec.Command(cli, append([]string{"run", "--"}, argv...)...)
		cmd.Env = append(os.Environ(), "M="+marker)
		stdin, _ := cmd.StdinPipe() // a client that never closes stdin
		defer stdin.Close()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { killAll(procsWith(marker)) })
		waitCount(t, marker, 2, 10*time.Second)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		waitCount(t, marker, 0, 10*time.Second)
	})

	t.Run("serve", func(t *testing.T) {
		marker, argv := workers(t)
		self, _ := os.Executable()
		dir := t.TempDir()
		cfg := fmt.Sprintf(`{"mcpServers": {"w": {"command": "sh", "args": ["-c", %q], "env": {"INJECTOR_TEST_ROLE": "fake-mcp", "M": %q}}}}`,
			strings.Replace(argv[2], "wait", "exec "+self, 1), marker)
		os.WriteFile(filepath.Join(dir, "mcp.json"), []byte(cfg), 0o600)
		port := testenv.FreePort(t)
		cmd := exec.Command(cli, "serve", "--config", "mcp.json", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--pool-size", "2")
		cmd.Dir = dir
		stderr := &testenv.Buffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { killAll(procsWith(marker)) })
		testenv.WaitFor(t, "serve to listen", 30*time.Second, func() bool {
			r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
			if err == nil {
				r.Body.Close()
			}
			return err == nil
		})
		waitCount(t, marker, 4, 10*time.Second) // two pool children, two sleepers each
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		waitCount(t, marker, 0, 10*time.Second)
		if t.Failed() {
			t.Logf("serve stderr:\n%s", stderr.String())
		}
	})
}

// The launcher never changes the open file description it shares with
// its client: O_NONBLOCK on its stdin would change the client's own pipe.
// The control is a child that does set it, seen by the same check.
func TestClientPipeStaysBlocking(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	cli := testenv.CLI(t)
	self, _ := os.Executable()
	nonblock := func(fd int) bool {
		fl, err := fcntlGetfl(fd)
		if err != nil {
			t.Fatal(err)
		}
		return fl&syscall.O_NONBLOCK != 0
	}
	for _, tt := range []struct {
		name    string
		argv    []string
		env     []string
		changed bool
	}{
		{"run", []string{cli, "run", "--", self}, injector.RoleEnv("fake-mcp"), false},
		{"run --mcp on", []string{cli, "run", "--mcp", "on", "--", self}, injector.RoleEnv("fake-mcp"), false},
		{"control", []string{self}, injector.RoleEnv("nonblock"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var in, out [2]int
			if err := syscall.Pipe(in[:]); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Pipe(out[:]); err != nil {
				t.Fatal(err)
			}
			inR, inW := os.NewFile(uintptr(in[0]), "in"), os.NewFile(uintptr(in[1]), "inw")
			outR, outW := os.NewFile(uintptr(out[0]), "out"), os.NewFile(uintptr(out[1]), "outw")
			defer inW.Close()
			defer outR.Close()
			cmd := exec.Command(tt.argv[0], tt.argv[1:]...)
			cmd.Env = tt.env
			cmd.Stdin, cmd.Stdout = inR, outW
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			// Our copies share the descriptions the process has as fd 0 and 1.
			fmt.Fprintln(inW, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
			buf := make([]byte, 4096)
			if _, err := syscall.Read(out[0], buf); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			if got := nonblock(in[0]) || nonblock(out[1]); got != tt.changed {
				t.Errorf("O_NONBLOCK on the client's pipes: %v, want %v", got, tt.changed)
			}
		})
	}
}

func fcntlGetfl(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
