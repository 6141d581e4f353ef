// The child is a sh script; the old child's end is checked in /proc.

//go:build linux

package rotation_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// launcher is `mcp-secrets run` started by a test, with a child that
// appends "PID VALUE" to starts.log each time it starts.
type launcher struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	stderr testenv.Buffer
}

// child records each start, then runs until SIGTERM.
const child = `echo "$$ $TOKEN" >> starts.log; trap "exit 0" TERM; while :; do sleep 0.02; done`

func startRun(t *testing.T, cli, dir string, env []string, args ...string) *launcher {
	t.Helper()
	l := &launcher{t: t, dir: dir}
	l.cmd = exec.Command(cli, append(append([]string{"run", "--log-level", "debug"}, args...), "--", "sh", "-c", child)...)
	l.cmd.Dir = dir
	l.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	l.cmd.Stderr = &l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.cmd.Process.Signal(syscall.SIGTERM)
		l.cmd.Wait()
		if t.Failed() {
			t.Logf("launcher stderr:\n%s", l.log())
		}
	})
	return l
}

func (l *launcher) log() string { return l.stderr.String() }

// starts are the child's starts so far: "PID VALUE" lines.
func (l *launcher) starts() []string {
	b, _ := os.ReadFile(filepath.Join(l.dir, "starts.log"))
	return strings.Fields(strings.ReplaceAll(string(b), " ", "="))
}

// waitStarts waits until the child has started n times and returns the
// values it started with.
func (l *launcher) waitStarts(n int, timeout time.Duration) []string {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := l.starts()
		if len(s) >= n {
			values := make([]string, len(s))
			for i, line := range s {
				_, values[i], _ = strings.Cut(line, "=")
			}
			return values
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("the child started %d times, want %d", len(s), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDotenvEditRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts real processes")
	}
	cli := testenv.CLI(t)
	edits := []struct {
		name string
		edit func(t *testing.T, path, content string)
	}{
		{"write in place", write},
		{"rename over", func(t *testing.T, path, content string) {
			tmp := path + ".tmp"
			write(t, tmp, content)
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			dir := t.TempDir()
			env := filepath.Join(dir, ".env")
			write(t, env, "TOKEN=first\n")
			l := startRun(t, cli, dir, []string{"TOKEN=$<TOKEN>"})
			l.waitStarts(1, 10*time.Second)
			e.edit(t, env, "TOKEN=second\n")
			if got := l.waitStarts(2, 10*time.Second); got[1] != "second" {
				t.Errorf("restarted with %q, want second", got[1])
			}
			// An edit that changes nothing the child uses does not restart it.
			e.edit(t, env, "TOKEN=second\nUNUSED=x\n")
			time.Sleep(1500 * time.Millisecond)
			if n := len(l.starts()); n != 2 {
				t.Errorf("%d starts after an edit of an unused variable, want 2", n)
			}
		})
	}
	t.Run("kubernetes symlink swap", func(t *testing.T) {
		// A Kubernetes secret volume: token -> ..data/token, ..data -> ..v1.
		dir := t.TempDir()
		vol := filepath.Join(dir, "secrets")
		for _, d := range []string{"..v1", "..v2"} {
			if err := os.MkdirAll(filepath.Join(vol, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		write(t, filepath.Join(vol, "..v1", "token"), "from-v1\n")
		write(t, filepath.Join(vol, "..v2", "token"), "from-v2\n")
		must(t, os.Symlink("..v1", filepath.Join(vol, "..data")))
		must(t, os.Symlink("..data/token", filepath.Join(vol, "token")))
		l := startRun(t, cli, dir, []string{"TOKEN=$<file:" + filepath.Join(vol, "token") + ">"})
		if got := l.waitStarts(1, 10*time.Second); got[0] != "from-v1" {
			t.Fatalf("started with %q", got[0])
		}
		// The atomic writer's swap: a new symlink renamed over ..data.
		must(t, os.Symlink("..v2", filepath.Join(vol, "..data_tmp")))
		must(t, os.Rename(filepath.Join(vol, "..data_tmp"), filepath.Join(vol, "..data")))
		if got := l.waitStarts(2, 10*time.Second); got[1] != "from-v2" {
			t.Errorf("restarted with %q, want from-v2", got[1])
		}
	})
}

func TestFiftyChangesOneRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts real processes")
	}
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	write(t, env, "TOKEN=v0\n")
	l := startRun(t, testenv.CLI(t), dir, []string{"TOKEN=$<TOKEN>"})
	l.waitStarts(1, 10*time.Second)
	for i := 1; i <= 50; i++ {
		write(t, env, "TOKEN=v"+string(rune('0'+i/10))+string(rune('0'+i%10))+"\n")
		time.Sleep(20 * time.Millisecond)
	}
	got := l.waitStarts(2, 10*time.Second)
	time.Sleep(2 * time.Second) // room for a second, wrong restart
	if n := len(l.starts()); n != 2 {
		t.Fatalf("%d starts, want 2 (the first and one restart)", n)
	}
	if got[1] != "v50" {
		t.Errorf("restarted with %q, want the last value v50", got[1])
	}
}

func TestStubbornChildKilledAfterStopTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts real processes")
	}
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	write(t, env, "TOKEN=v1\n")
	cli := testenv.CLI(t)
	// This child ignores SIGTERM.
	cmd := exec.Command(cli, "run", "--stop-timeout", "300ms", "--debounce", "50ms", "--",
		"sh", "-c", `trap "" TERM; echo "$$ $TOKEN" >> starts.log; while :; do sleep 0.02; done`)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TOKEN=$<TOKEN>"}
	must(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	l := &launcher{t: t, dir: dir}
	l.waitStarts(1, 10*time.Second)
	first := strings.SplitN(l.starts()[0], "=", 2)[0]
	write(t, env, "TOKEN=v2\n")
	got := l.waitStarts(2, 10*time.Second)
	if got[1] != "v2" {
		t.Errorf("restarted with %q", got[1])
	}
	if _, err := os.Stat("/proc/" + first); err == nil {
		t.Errorf("the old child %s is still there", first)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
