// Against a real Secret Service (gnome-keyring-daemon on a private bus);
// items are written and read back with secret-tool, an independent client.

package keychain_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/keychain"
)

// secretService starts a Secret Service and points this process's
// session bus at it. go-keyring shares one connection per process; a test's
// bus ends with the test, and the next test's call connects again.
func secretService(t testing.TB) *testenv.SecretServiceServer {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	ss := testenv.SecretService(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", ss.Addr)
	return ss
}

func resolver(p providers.Provider) *providers.Resolver {
	return &providers.Resolver{Providers: map[string]providers.Provider{"keychain": p}, Fallback: providers.FallbackOff, Timeout: 10 * time.Second}
}

func TestFetch(t *testing.T) {
	ss := secretService(t)
	ss.Store(t, "github", "token", "ghp-keychain-value-1")
	ss.Store(t, "mcp", "postgres", `{"password":"pg-pass-2","nested":{"user":"app"}}`)
	ss.Store(t, "https://index.docker.io/v1/", "me", "docker-value-3")
	ss.Store(t, "multi", "line", "line one\nline two\n")
	p := keychain.New(keychain.Options{})
	if !p.Configured() {
		t.Fatal("not configured with a Secret Service on the bus")
	}
	tests := []struct {
		name, ref, want string
		kind            error
		msg             string
	}{
		{name: "whole item", ref: "$<keychain:github/token>", want: "ghp-keychain-value-1"},
		{name: "#field of a JSON item", ref: "$<keychain:mcp/postgres#password>", want: "pg-pass-2"},
		{name: "nested #field", ref: "$<keychain:mcp/postgres#nested.user>", want: "app"},
		{name: "a service with slashes", ref: "$<keychain:https://index.docker.io/v1//me>", want: "docker-value-3"},
		{name: "a value as stored, newlines kept", ref: "$<keychain:multi/line>", want: "line one\nline two\n"},
		{name: "in a template", ref: "token $<keychain:github/token>!", want: "token ghp-keychain-value-1!"},
		{name: "no such account", ref: "$<keychain:github/nobody>", kind: providers.ErrNotFound,
			msg: `V: $<keychain:github/nobody>: keychain: not found: no item with service "github" and account "nobody"`},
		{name: "no such service", ref: "$<keychain:gitlab/token>", kind: providers.ErrNotFound, msg: `service "gitlab"`},
		{name: "no such field", ref: "$<keychain:mcp/postgres#nope>", kind: providers.ErrNotFound, msg: `no key "nope" (keys: nested, password)`},
		{name: "#field of a text item", ref: "$<keychain:github/token#x>", kind: providers.ErrNotFound, msg: "not a JSON object"},
		{name: "no account", ref: "$<keychain:github>", kind: providers.ErrConfig, msg: `"github": want SERVICE/ACCOUNT`},
		{name: "empty account", ref: "$<keychain:github/>", kind: providers.ErrConfig, msg: "want SERVICE/ACCOUNT"},
		{name: "a version", ref: "$<keychain:github/token?version=2>", kind: providers.ErrConfig, msg: "no versions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolver(p).Resolve(context.Background(), []providers.Var{{Name: "V", Value: tt.ref}})
			if tt.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if v := got[0].Value.Reveal(); v != tt.want {
					t.Errorf("got %q, want %q", v, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want %v saying %q", err, tt.kind, tt.msg)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			for _, v := range []string{"ghp-keychain-value-1", "pg-pass-2", "docker-value-3"} {
				if err != nil && strings.Contains(err.Error(), v) {
					t.Errorf("error shows a value: %v", err)
				}
			}
		})
	}
}

// What set and wrap write reads back with secret-tool, and replaces an
// item in place.
func TestWrite(t *testing.T) {
	ss := secretService(t)
	p := keychain.New(keychain.Options{})
	ctx := context.Background()
	if _, ok := ss.Lookup(t, "github", "token"); ok {
		t.Fatal("an item before any write: the test cannot tell a write")
	}
	if err := p.SetValue(ctx, "github/token", "first value\n"); err != nil {
		t.Fatal(err)
	}
	if v, _ := ss.Lookup(t, "github", "token"); v != "first value\n" {
		t.Errorf("secret-tool reads %q", v)
	}
	if err := p.SetValue(ctx, "github/token", "second"); err != nil {
		t.Fatal(err)
	}
	if v, _ := ss.Lookup(t, "github", "token"); v != "second" {
		t.Errorf("after a second write secret-tool reads %q", v)
	}
	if err := p.Put(ctx, "mcp/postgres", map[string]string{"PGPASSWORD": "pw-1", "API_KEY": `a"b`}); err != nil {
		t.Fatal(err)
	}
	if v, _ := ss.Lookup(t, "mcp", "postgres"); v != `{"API_KEY":"a\"b","PGPASSWORD":"pw-1"}` {
		t.Errorf("secret-tool reads %q", v)
	}
	got, err := resolver(p).Resolve(ctx, []providers.Var{{Name: "V", Value: "$<keychain:mcp/postgres#API_KEY>"}})
	if err != nil || got[0].Value.Reveal() != `a"b` {
		t.Errorf("resolved %v, %v", got, err)
	}
	if err := p.SetValue(ctx, "noaccount", "x"); !errors.Is(err, providers.ErrConfig) {
		t.Errorf("a path without an account: %v", err)
	}
}

// Versions changes when an item is changed by another client, and only
// then; its digests are keyed (another provider's differ) and name no
// value.
func TestVersions(t *testing.T) {
	ss := secretService(t)
	ss.Store(t, "github", "token", "v1")
	ctx := context.Background()
	p := keychain.New(keychain.Options{})
	k := providers.Key{Provider: "keychain", Path: "github/token"}
	gone := providers.Key{Provider: "keychain", Path: "github/gone"}
	versions := func() string {
		t.Helper()
		m, err := p.Versions(ctx, []providers.Key{k, gone})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m[gone]; ok || len(m) != 1 {
			t.Fatalf("versions %v: want only %s", m, k)
		}
		return m[k]
	}
	v1 := versions()
	if !strings.HasPrefix(v1, "hmac-sha256:") || versions() != v1 {
		t.Fatalf("version %q, then another", v1)
	}
	ss.Store(t, "github", "token", "v1")
	if versions() != v1 {
		t.Error("the same value stored again changed the version")
	}
	ss.Store(t, "github", "token", "v2")
	if versions() == v1 {
		t.Error("a new value did not change the version")
	}
	other, err := keychain.New(keychain.Options{}).Versions(ctx, []providers.Key{k})
	if err != nil || other[k] == versions() {
		t.Errorf("two providers digest alike (%v): the digest is not keyed", err)
	}
}

// A locked keyring is unavailable, with what to do; the same item read
// before the lock is the control. A poll never opens an unlock prompt; a
// read does (the control that the prompts are seen).
func TestLocked(t *testing.T) {
	ss := secretService(t)
	ss.Store(t, "github", "token", "v1")
	p := keychain.New(keychain.Options{})
	ref := providers.Ref{Provider: "keychain", Path: "github/token"}
	if _, err := p.Fetch(context.Background(), ref); err != nil {
		t.Fatalf("before the lock: %v", err)
	}
	if _, err := p.Versions(context.Background(), []providers.Key{ref.Key()}); err != nil {
		t.Fatalf("a poll before the lock: %v", err)
	}
	ss.Lock(t)
	prompts := ss.Prompts(t)
	_, err := p.Versions(context.Background(), []providers.Key{ref.Key()})
	if !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "the keyring is locked") {
		t.Errorf("poll: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // for the monitor
	if n := prompts.Load(); n != 0 {
		t.Errorf("a poll opened %d unlock prompts", n)
	}
	for name, err := range map[string]error{
		"read":  func() error { _, err := p.Fetch(context.Background(), ref); return err }(),
		"write": p.SetValue(context.Background(), "github/token", "v2"),
	} {
		if !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "the keyring is locked") {
			t.Errorf("%s: %v", name, err)
		}
	}
	testenv.WaitFor(t, "the prompts of a read and a write", 5*time.Second, func() bool { return prompts.Load() >= 2 })
	if !p.Configured() {
		t.Error("a locked keyring counts as not configured: its references would fall back")
	}
}

// Without a session bus nothing is launched: an error at once, with the
// hint; with the bus the same provider answers (the control).
func TestNoBus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	requireNoRunUserBus(t)
	p := keychain.New(keychain.Options{})
	begin := time.Now()
	if p.Configured() {
		t.Error("configured without a bus")
	}
	_, err := p.Fetch(context.Background(), providers.Ref{Provider: "keychain", Path: "github/token"})
	if !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "no D-Bus session bus") || !strings.Contains(err.Error(), "--fallback auto") {
		t.Errorf("error %v", err)
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("took %v", took)
	}

	ss := secretService(t)
	ss.Store(t, "github", "token", "v1")
	if _, err := keychain.New(keychain.Options{}).Fetch(context.Background(), providers.Ref{Provider: "keychain", Path: "github/token"}); err != nil {
		t.Errorf("with a bus: %v", err)
	}
}

// A call that gets no answer ends at its context's deadline: a bus whose
// Secret Service never answers stands for an unlock prompt nobody sees.
func TestTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a session bus")
	}
	ss := testenv.SessionBus(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", ss.Addr)
	calls := ss.Hang(t)
	p := keychain.New(keychain.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := p.Fetch(ctx, providers.Ref{Provider: "keychain", Path: "github/token"})
	if took := time.Since(begin); !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "timed out") || took > 2*time.Second {
		t.Errorf("after %v: %v", took, err)
	}
	if calls.Load() == 0 {
		t.Error("the call never reached the hanging service: the test proves nothing")
	}
}

// requireNoRunUserBus fails a test of a machine without a session bus on
// one that has a systemd user session's: the launcher would find it.
func requireNoRunUserBus(t *testing.T) {
	t.Helper()
	sock := fmt.Sprintf("/run/user/%d/bus", os.Getuid())
	if _, err := os.Stat(sock); err == nil {
		t.Fatalf("%s exists: this machine has a session bus, so no test here can see one missing", sock)
	}
}
