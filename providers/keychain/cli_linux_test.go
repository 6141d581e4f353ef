// The launcher against a real Secret Service, a locked one, a bus without
// one and no bus at all: each a separate process with its own bus.

package keychain_test

import (
	"cmp"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// childScript prints a digest of TOKEN: the launcher may redact what the
// child prints, never a digest.
const childScript = `printf 'sha=%s\n' "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)"`

func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	requireNoRunUserBus(t)
	cli := testenv.CLI(t)
	ss := testenv.SecretService(t)
	ss.Store(t, "github", "token", "ghp-from-the-keychain-1")
	ss.Store(t, "mcp", "postgres", `{"password":"pg-from-the-keychain-2"}`)
	locked := testenv.SecretService(t)
	locked.Store(t, "github", "token", "ghp-locked-away-3")
	locked.Lock(t)
	empty := testenv.SessionBus(t)
	const local = "local-dotenv-value-4"
	noBus := "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set, no socket at "

	tests := []struct {
		name   string
		ref    string   // TOKEN's value; default $<keychain:github/token>
		env    []string // besides PATH, HOME and an empty XDG_RUNTIME_DIR
		args   []string
		code   int
		want   string // the value the child gets
		stderr []string
	}{
		{name: "an item secret-tool wrote", env: ss.Env(), args: []string{"run"},
			want: "ghp-from-the-keychain-1"},
		{name: "#field of a JSON item, exec", ref: "$<keychain:mcp/postgres#password>", env: ss.Env(), args: []string{"exec"},
			want: "pg-from-the-keychain-2"},
		{name: "not found", ref: "$<keychain:github/nobody>", env: ss.Env(), args: []string{"run"}, code: 78,
			stderr: []string{`mcp-secrets: TOKEN: $<keychain:github/nobody>: keychain: not found: no item with service "github" and account "nobody"`}},
		{name: "not found is no reason to fall back", ref: "$<keychain:github/nobody>", env: ss.Env(), args: []string{"run", "--fallback", "auto"}, code: 78,
			stderr: []string{"not found"}},
		{name: "locked", env: locked.Env(), args: []string{"run"}, code: 69,
			stderr: []string{"mcp-secrets: TOKEN: $<keychain:github/token>: keychain: unavailable: the keyring is locked and no unlock prompt was answered"}},
		{name: "no Secret Service on the bus, --fallback off", env: empty.Env(), args: []string{"run", "--fallback", "off"}, code: 69,
			stderr: []string{"mcp-secrets: TOKEN: $<keychain:github/token>: keychain: unavailable: no Secret Service on the session bus (nothing owns org.freedesktop.secrets): on Linux the keychain is", "--fallback auto"}},
		{name: "no Secret Service on the bus, --fallback auto", env: empty.Env(), args: []string{"run", "--log-level", "info"}, want: local,
			stderr: []string{`msg="value from dotenv fallback" variable=TOKEN reason="keychain not configured here"`}},
		{name: "no bus, --fallback off", args: []string{"run", "--fallback", "off"}, code: 69,
			stderr: []string{"mcp-secrets: TOKEN: $<keychain:github/token>: keychain: unavailable: " + noBus, "--fallback auto"}},
		{name: "no bus, --fallback auto", args: []string{"run", "--log-level", "info"}, want: local,
			stderr: []string{`msg="value from dotenv fallback" variable=TOKEN reason="keychain not configured here"`}},
		{name: "no bus, check", args: []string{"check"}, code: 0,
			stderr: []string{`reason="keychain not configured here"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("TOKEN="+local+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_RUNTIME_DIR=" + t.TempDir(), "TOKEN=" + cmp.Or(tt.ref, "$<keychain:github/token>")}
			args := tt.args
			if args[0] != "check" {
				args = append(args, "--", "sh", "-c", childScript)
			}
			cmd := exec.Command(cli, args...)
			cmd.Dir = dir
			cmd.Env = append(env, tt.env...)
			stdout, stderr, code := testenv.Run(t, cmd)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if tt.want != "" && strings.TrimSpace(stdout) != "sha="+testenv.Digest(tt.want) {
				t.Errorf("the child got another value than %q: %s", tt.want, stdout)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, stderr)
				}
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); tt.code != 0 && n > 0 {
				t.Errorf("the error spans %d lines:\n%s", n+1, stderr)
			}
			for _, v := range []string{"ghp-from-the-keychain-1", "pg-from-the-keychain-2", "ghp-locked-away-3"} {
				if strings.Contains(stdout+stderr, v) {
					t.Errorf("a value shows in the output:\n%s%s", stdout, stderr)
				}
			}
		})
	}
}

// An item changed with secret-tool restarts the child within about a poll
// interval; the same value stored again restarts nothing.
func TestRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	cli := testenv.CLI(t)
	ss := testenv.SecretService(t)
	ss.Store(t, "github", "token", "v1")
	dir := t.TempDir()
	const interval = 200 * time.Millisecond
	cmd := exec.Command(cli, "run", "--log-level", "debug", "--poll-interval", interval.String(), "--debounce", "50ms", "--",
		"sh", "-c", `echo "$TOKEN" >> starts.log; trap "exit 0" TERM; while :; do sleep 0.02; done`)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TOKEN=$<keychain:github/token>"}, ss.Env()...)
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("launcher stderr:\n%s", stderr.String())
		}
	})
	starts := func() []string {
		b, _ := os.ReadFile(filepath.Join(dir, "starts.log"))
		return strings.Fields(string(b))
	}
	testenv.WaitFor(t, "the first start", 10*time.Second, func() bool { return len(starts()) == 1 })

	ss.Store(t, "github", "token", "v1")
	time.Sleep(5 * interval)
	if s := starts(); len(s) != 1 {
		t.Fatalf("starts %q after the same value was stored again, want one", s)
	}
	ss.Store(t, "github", "token", "v2")
	changed := time.Now()
	testenv.WaitFor(t, "a restart", 10*time.Second, func() bool { return len(starts()) == 2 })
	took := time.Since(changed)
	if s := starts(); s[1] != "v2" {
		t.Errorf("restarted with %q, want v2", s[1])
	}
	// A poll (the interval, +10% jitter), the debounce, a fetch and a start.
	if took > 2*interval+time.Second {
		t.Errorf("restarted %v after the change", took)
	}
	t.Logf("the change reached a new child in %v (--poll-interval %v --debounce 50ms)", took.Round(time.Millisecond), interval)
}

// A launch without a keychain reference never connects to the session bus:
// it pays nothing for the provider. The control, with a reference, does.
func TestNoBusWithoutReference(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the launcher")
	}
	cli := testenv.CLI(t)
	dir, err := os.MkdirTemp("", "bus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var connects atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			connects.Add(1)
			c.Close()
		}
	}()
	for _, tt := range []struct {
		ref  string
		want bool
	}{
		{"$<TOKEN>", false},
		{"$<keychain:github/token>", true},
	} {
		before := connects.Load()
		cmd := exec.Command(cli, "run", "--fallback", "off", "--", "true")
		cmd.Dir = t.TempDir()
		os.WriteFile(filepath.Join(cmd.Dir, ".env"), []byte("TOKEN=local-value\n"), 0o600)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir, "TOKEN=" + tt.ref, "DBUS_SESSION_BUS_ADDRESS=unix:path=" + l.Addr().String()}
		testenv.Run(t, cmd)
		time.Sleep(50 * time.Millisecond) // the accept loop's count
		if got := connects.Load() > before; got != tt.want {
			t.Errorf("TOKEN=%s: connected to the bus: %v, want %v", tt.ref, got, tt.want)
		}
	}
}
