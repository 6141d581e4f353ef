package testenv

import (
	"strings"
	"testing"
)

func TestSecretServiceMissingBinaryFails(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f := runFatal(t, func(tb testing.TB) { SecretService(tb) })
	if !strings.Contains(f.msg, "gnome-keyring-daemon is needed") || !strings.Contains(f.msg, ".ci/run installs it") {
		t.Fatalf("want a failure naming the package, got %q", f.msg)
	}
	if f.skipped != testing.Short() {
		t.Fatalf("skipped = %v under -short=%v: must fail, skipping only with -short", f.skipped, testing.Short())
	}
}

// Two Secret Services at once keep separate keyrings; Lock locks one; both
// buses and daemons are gone after cleanup.
func TestSecretService(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	var procs []*proc
	t.Run("servers", func(t *testing.T) {
		a, b := SecretService(t), SecretService(t)
		procs = append(a.procs, b.procs...)
		a.Store(t, "svc", "acct", "value-a")
		if v, ok := a.Lookup(t, "svc", "acct"); !ok || v != "value-a" {
			t.Errorf("lookup after store: %q, %v", v, ok)
		}
		if _, ok := b.Lookup(t, "svc", "acct"); ok {
			t.Error("the second Secret Service sees the first's item")
		}
		b.Store(t, "svc", "acct", "value-b")
		b.Lock(t)
		if _, ok := b.Lookup(t, "svc", "acct"); ok {
			t.Error("an item of a locked collection reads back")
		}
		if v, _ := a.Lookup(t, "svc", "acct"); v != "value-a" {
			t.Errorf("locking the second changed the first: %q", v)
		}
	})
	if len(procs) != 4 {
		t.Fatalf("%d processes recorded, want 4", len(procs))
	}
	for _, p := range procs {
		assertGone(t, p.cmd.Path, p.pid())
	}
}
