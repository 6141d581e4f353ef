package vault_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Values of the KV fixtures: each distinct, so a leak names its source.
const (
	kv2PasswordV1 = "kv2-pw-version-one-7f3a"
	kv2PasswordV2 = "kv2-pw-version-two-91bc"
	kv1Password   = "kv1-pw-a81d0c"
)

// kvServer is a dev server with a KV v2 secret of two versions, a KV v1
// mount with one secret, and one secret of version 1 whose latest version
// was deleted.
func kvServer(t *testing.T) *testenv.VaultServer {
	t.Helper()
	v := testenv.Vault(t)
	v.Write(t, "secret/app", map[string]any{"user": "alice", "password": kv2PasswordV1})
	v.Write(t, "secret/app", map[string]any{"user": "alice", "password": kv2PasswordV2})
	v.Write(t, "secret/gone", map[string]any{"k": "old"})
	v.Write(t, "secret/gone", map[string]any{"k": "deleted"})
	if err := v.Client().KVv2("secret").Delete(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	v.EnableKV1(t, "kv1")
	v.Write(t, "kv1/app", map[string]any{"user": "bob", "password": kv1Password})
	return v
}

// TestResolve covers Vault's path forms and deleted versions (TestSuite
// covers the rest, on KV v2 and v1).
func TestResolve(t *testing.T) {
	v := kvServer(t)
	h := newProvider(t, vaultEnv(v.Addr, v.Token), kv2PasswordV1, kv2PasswordV2, kv1Password)
	tests := []struct {
		name, value, want, version string
	}{
		{"kv2 API path", "$<vault:secret/data/app#password>", kv2PasswordV2, "2"},
		{"kv2 leading slash", "$<vault:/secret/app#user>", "alice", "2"},
		{"default provider", "$<secret/app#user>", "alice", "2"},
		{"kv2 pinned API path", "$<vault:secret/data/app?version=1#password>", kv2PasswordV1, "1"},
		{"deleted latest, pinned older", "$<vault:secret/gone?version=1#k>", "old", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.resolve("V", tt.value)
			if err != nil {
				t.Fatalf("resolve %s: %v", tt.value, err)
			}
			r := got["V"]
			if r.Value.Reveal() != tt.want {
				t.Errorf("%s = %q (%d chars), want %q", tt.value, r.Value.Masked(), r.Value.Len(), tt.want)
			}
			if r.Sources[0].Version != tt.version {
				t.Errorf("%s: version %q, want %q", tt.value, r.Sources[0].Version, tt.version)
			}
		})
	}
}

// TestResolveErrors covers the failures only Vault has: structured data,
// version numbers, mounts (TestSuite covers not found).
func TestResolveErrors(t *testing.T) {
	v := kvServer(t)
	h := newProvider(t, vaultEnv(v.Addr, v.Token), kv2PasswordV1, kv2PasswordV2, kv1Password, "alice", "bob")
	tests := []struct {
		name, value string
		kind        error
		says        string // in the error
	}{
		{"multi-key without field", "$<vault:secret/app>", providers.ErrNotFound, "has 2 keys (password, user): name one with #field"},
		{"kv1 multi-key without field", "$<vault:kv1/app>", providers.ErrNotFound, "has 2 keys"},
		{"no such version", "$<vault:secret/app?version=9#password>", providers.ErrNotFound, "version 9"},
		{"deleted version", "$<vault:secret/gone#k>", providers.ErrNotFound, "deleted"},
		{"bad version", "$<vault:secret/app?version=last#password>", providers.ErrConfig, "?version=last"},
		{"version on kv1", "$<vault:kv1/app?version=1#password>", providers.ErrConfig, "needs a KV v2 mount"},
		{"stage", "$<vault:secret/app?stage=AWSPREVIOUS#password>", providers.ErrConfig, "?stage="},
		{"mount itself", "$<vault:secret#k>", providers.ErrConfig, "names the KV v2 mount secret/"},
		{"no mount", "$<vault:nomount/app#k>", providers.ErrConfig, "no handler for route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.resolve("V", tt.value)
			if err == nil {
				t.Fatalf("%s resolved", tt.value)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("%s: error kind: %v, want %v", tt.value, err, tt.kind)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.says) || !strings.HasPrefix(msg, "V: "+tt.value+": vault: ") {
				t.Errorf("%s: error %q, want it to start with the variable and reference and say %q", tt.value, msg, tt.says)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("%s: error spans lines: %q", tt.value, msg)
			}
		})
	}
}

// One secret is read once per resolution, whatever the number of
// references and fields, and the mount is looked up once per process.
func TestOneReadPerSecret(t *testing.T) {
	v := kvServer(t)
	proxy := countRequests(t, v.Addr)
	h := newProvider(t, vaultEnv(proxy.URL, v.Token))
	pairs := []string{
		"USER", "$<vault:secret/app#user>",
		"PASSWORD", "$<vault:secret/app#password>",
		"URL", "u=$<vault:secret/app#user>&p=$<vault:secret/app#password>",
		"KV1_USER", "$<vault:kv1/app#user>",
		"KV1_PASSWORD", "$<vault:kv1/app#password>",
	}
	for round := range 2 {
		proxy.reset()
		if _, err := h.resolve(pairs...); err != nil {
			t.Fatal(err)
		}
		if n := proxy.n("GET /v1/secret/data/app"); n != 1 {
			t.Errorf("round %d: %d reads of secret/data/app, want 1", round, n)
		}
		if n := proxy.n("GET /v1/kv1/app"); n != 1 {
			t.Errorf("round %d: %d reads of kv1/app, want 1", round, n)
		}
		wantLookups := 2 // secret/ and kv1/, the first time only
		if round > 0 {
			wantLookups = 0
		}
		if n := proxy.n("GET /v1/sys/internal/ui/mounts/"); n != wantLookups {
			t.Errorf("round %d: %d mount lookups, want %d", round, n, wantLookups)
		}
	}
	// API-style and CLI-style paths are different keys (two reads), but
	// the same mount: no new lookup.
	proxy.reset()
	if _, err := h.resolve("A", "$<vault:secret/data/app#user>"); err != nil {
		t.Fatal(err)
	}
	if n := proxy.n("GET /v1/sys/internal/ui/mounts/"); n != 0 {
		t.Errorf("%d mount lookups for a known mount, want 0", n)
	}
}
