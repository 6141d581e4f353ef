// The Secret Service is Linux's keychain: D-Bus and gnome-keyring-daemon.

//go:build linux

package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// SecretServiceServer is a private D-Bus session bus owned by one test,
// with gnome-keyring-daemon's Secret Service on it (SecretService) or
// nothing (SessionBus).
type SecretServiceServer struct {
	// Addr is the bus's DBUS_SESSION_BUS_ADDRESS.
	Addr string
	// Home is the daemon's HOME: its keyring files are there, never in the
	// real one.
	Home string

	procs []*proc // the bus, then the daemon
}

const secretsName = "org.freedesktop.secrets"

// busConfig is a session bus that listens on a socket in a temporary
// directory and has no <servicedir>: nothing is started behind the test's
// back, so a Secret Service is on the bus only when the test put it there.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// SessionBus starts a private session bus with no Secret Service on it.
func SessionBus(t testing.TB) *SecretServiceServer {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		unavailable(t, "dbus-daemon is needed for the keychain tests (Debian: dbus, in the image already): %v", err)
	}
	// A socket path is at most 107 bytes: not under a test's TempDir, whose
	// name grows with the test's.
	dir, err := os.MkdirTemp("", "bus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, sock), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := startProc(bin, []string{"--config-file=" + conf, "--nofork", "--nopidfile"}, []string{"PATH=" + os.Getenv("PATH")}, nil)
	if err != nil {
		t.Fatalf("testenv: dbus-daemon: %v", err)
	}
	t.Cleanup(p.kill)
	s := &SecretServiceServer{Addr: "unix:path=" + sock, procs: []*proc{p}}
	if err := s.await(p, "dbus-daemon", func(*dbus.Conn) (bool, error) { return true, nil }); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return s
}

// SecretService starts a private session bus with gnome-keyring-daemon on
// it, its default collection created and unlocked (the password is one
// empty line: no prompt). Several may run at once: each daemon has a HOME
// of its own.
func SecretService(t testing.TB) *SecretServiceServer {
	t.Helper()
	begin := time.Now()
	bin, err := exec.LookPath("gnome-keyring-daemon")
	if err != nil {
		unavailable(t, "gnome-keyring-daemon is needed for the keychain tests (Debian: gnome-keyring; .ci/run installs it): %v", err)
	}
	s := SessionBus(t)
	s.Home = t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.Home, "DBUS_SESSION_BUS_ADDRESS=" + s.Addr}
	// An empty stdin creates no collection and asks a prompt for a password;
	// one empty line is an empty password. The shell gives it that line.
	p, err := startProc("sh", []string{"-c", `exec "$0" --foreground --unlock --components=secrets <<EOF` + "\n\nEOF\n", bin}, env, nil)
	if err != nil {
		t.Fatalf("testenv: gnome-keyring-daemon: %v", err)
	}
	t.Cleanup(p.kill)
	s.procs = append(s.procs, p)
	err = s.await(p, "gnome-keyring-daemon", func(c *dbus.Conn) (bool, error) {
		var up bool
		if err := c.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, secretsName).Store(&up); err != nil || !up {
			return false, err
		}
		col, err := s.defaultCollection(c)
		return col != "/", err
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Logf("testenv: Secret Service ready in %v", time.Since(begin).Round(time.Millisecond))
	return s
}

// await connects to the bus until ready says so, or p exits, or
// readyTimeout passes.
func (s *SecretServiceServer) await(p *proc, what string, ready func(*dbus.Conn) (bool, error)) error {
	var last error
	for deadline := time.Now().Add(readyTimeout); time.Now().Before(deadline); time.Sleep(pollEvery) {
		if p.exited() {
			return p.exitError(what)
		}
		c, err := s.conn()
		if err != nil {
			last = err
			continue
		}
		ok, err := ready(c)
		c.Close()
		if ok {
			return nil
		}
		last = err
	}
	return fmt.Errorf("%s not ready after %v (last error: %v); output tail:\n%s", what, readyTimeout, last, p.out.String())
}

// conn is a private connection to the bus: never the process's shared
// session bus, which the code under test uses.
func (s *SecretServiceServer) conn() (*dbus.Conn, error) {
	return dbus.Connect(s.Addr)
}

// defaultCollection is the object path of the default collection, "/" if
// there is none.
func (s *SecretServiceServer) defaultCollection(c *dbus.Conn) (dbus.ObjectPath, error) {
	var col dbus.ObjectPath
	err := c.Object(secretsName, "/org/freedesktop/secrets").Call("org.freedesktop.Secret.Service.ReadAlias", 0, "default").Store(&col)
	return col, err
}

// Hang puts a Secret Service on a bus made with SessionBus that never
// answers a client's unlock, as one waiting on a prompt nobody sees, until
// the test ends. It counts the calls it holds.
func (s *SecretServiceServer) Hang(t testing.TB) *atomic.Int64 {
	t.Helper()
	c, err := s.conn()
	if err != nil {
		t.Fatal(err)
	}
	h := &hanger{release: make(chan struct{})}
	t.Cleanup(func() {
		close(h.release)
		c.Close()
	})
	if err := c.Export(h, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service"); err != nil {
		t.Fatal(err)
	}
	if reply, err := c.RequestName(secretsName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("testenv: owning %s: %v (reply %d)", secretsName, err, reply)
	}
	return &h.calls
}

type hanger struct {
	release chan struct{}
	calls   atomic.Int64
}

// Unlock is the first call of go-keyring's that a Secret Service answers.
func (h *hanger) Unlock(objects []dbus.ObjectPath) ([]dbus.ObjectPath, dbus.ObjectPath, *dbus.Error) {
	h.calls.Add(1)
	<-h.release
	return nil, "/", dbus.MakeFailedError(errors.New("released at the end of the test"))
}

// Prompts counts the prompts clients open on the bus from now on (calls of
// org.freedesktop.Secret.Prompt.Prompt: an unlock dialog on a desktop),
// seen by a bus monitor.
func (s *SecretServiceServer) Prompts(t testing.TB) *atomic.Int64 {
	t.Helper()
	c, err := s.conn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rule := "type='method_call',interface='org.freedesktop.Secret.Prompt',member='Prompt'"
	if err := c.BusObject().Call("org.freedesktop.DBus.Monitoring.BecomeMonitor", 0, []string{rule}, uint32(0)).Err; err != nil {
		t.Fatalf("testenv: becoming a bus monitor: %v", err)
	}
	// Only now: an eavesdropping connection sees no reply to its own calls.
	msgs := make(chan *dbus.Message, 16)
	c.Eavesdrop(msgs)
	var n atomic.Int64
	go func() {
		for m := range msgs {
			if m.Type == dbus.TypeMethodCall {
				n.Add(1)
			}
		}
	}()
	return &n
}

// Env is the environment that points a client at this bus.
func (s *SecretServiceServer) Env() []string {
	return []string{"DBUS_SESSION_BUS_ADDRESS=" + s.Addr}
}

// Lock locks the default collection. Nothing can unlock it again here:
// gnome-keyring asks for the password through a prompt, which fails at
// once without a display.
func (s *SecretServiceServer) Lock(t testing.TB) {
	t.Helper()
	c, err := s.conn()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	col, err := s.defaultCollection(c)
	if err != nil {
		t.Fatal(err)
	}
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	err = c.Object(secretsName, "/org/freedesktop/secrets").Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{col}).Store(&locked, &prompt)
	if err != nil || len(locked) != 1 {
		t.Fatalf("testenv: locking %s: %v (locked %v, prompt %s)", col, err, locked, prompt)
	}
}

// Store writes an item with secret-tool, an independent client
// (libsecret's): what a user's `secret-tool store` does.
func (s *SecretServiceServer) Store(t testing.TB, service, account, value string) {
	t.Helper()
	cmd := s.secretTool(t, "store", "--label="+service+"/"+account, "service", service, "username", account)
	cmd.Stdin = strings.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: secret-tool store %s/%s: %v\n%s", service, account, err, out)
	}
}

// Lookup reads an item with secret-tool; ok is false when there is none.
func (s *SecretServiceServer) Lookup(t testing.TB, service, account string) (value string, ok bool) {
	t.Helper()
	cmd := s.secretTool(t, "lookup", "service", service, "username", account)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 1 && len(out) == 0 && stderr.Len() == 0:
		return "", false
	case err != nil:
		t.Fatalf("testenv: secret-tool lookup %s/%s: %v\n%s", service, account, err, stderr.String())
	}
	return string(out), true
}

func (s *SecretServiceServer) secretTool(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("secret-tool")
	if err != nil {
		unavailable(t, "secret-tool is needed for the keychain tests (Debian: libsecret-tools; .ci/run installs it): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.Home}, s.Env()...)
	return cmd
}
