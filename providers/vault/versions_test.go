package vault_test

import (
	"context"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

func key(path string) providers.Key { return providers.Key{Provider: "vault", Path: path} }

func TestVersions(t *testing.T) {
	v, _ := databaseServer(t, time.Hour, 24*time.Hour)
	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1})
	v.EnableKV1(t, "kv1")
	v.Write(t, "kv1/app", map[string]any{"password": kv1Password})
	proxy := countRequests(t, v.Addr)
	h := newProvider(t, vaultEnv(proxy.URL, v.Token), kv2PasswordV1, kv2PasswordV2, kv1Password)
	ctx := context.Background()
	keys := []providers.Key{
		key("secret/app"), key("secret/data/app"), key("kv1/app"),
		key("database/creds/readonly"), key("secret/missing"), key("kv1/missing"),
	}
	versions := func() map[providers.Key]string {
		t.Helper()
		proxy.reset()
		got, err := h.p.Versions(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		// One request per key: secret/app and secret/data/app are two keys.
		// None to the leased secret: a read would mint credentials.
		for r, want := range map[string]int{"GET /v1/secret/metadata/app": 2, "GET /v1/kv1/app": 1, "GET /v1/database/": 0} {
			if n := proxy.n(r); n != want {
				t.Errorf("%d requests %s, want %d", n, r, want)
			}
		}
		return got
	}

	first := versions()
	if first[key("secret/app")] != "1" || first[key("secret/data/app")] != "1" {
		t.Errorf("KV v2 versions %v, want 1 for both path forms", first)
	}
	kv1 := first[key("kv1/app")]
	if kv1 == "" {
		t.Error("no version for a KV v1 secret")
	}
	for _, k := range []string{"database/creds/readonly", "secret/missing", "kv1/missing"} {
		if v, ok := first[key(k)]; ok {
			t.Errorf("%s: version %q, want none", k, v)
		}
	}
	if n := len(v.Leases(t, "database/creds/readonly/")); n != 0 {
		t.Errorf("Versions created %d leases", n)
	}

	if again := versions(); !maps.Equal(again, first) {
		t.Errorf("nothing changed, yet versions went from %v to %v", first, again)
	}

	v.Write(t, "kv1/app", map[string]any{"password": kv1Password}) // same value
	if again := versions(); !maps.Equal(again, first) {
		t.Errorf("KV v1 rewritten with the same value: versions went from %v to %v", first, again)
	}

	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV2})
	v.Write(t, "kv1/app", map[string]any{"password": kv1Password + "-rotated"})
	changed := versions()
	if changed[key("secret/app")] != "2" || changed[key("secret/data/app")] != "2" {
		t.Errorf("after a KV v2 write: %v, want version 2", changed)
	}
	if changed[key("kv1/app")] == kv1 || changed[key("kv1/app")] == "" {
		t.Errorf("after a KV v1 write: digest %q, was %q", changed[key("kv1/app")], kv1)
	}
}

// A token that may read a KV v2 secret's data but not its metadata (a
// common policy) still gets its version, from a data read.
func TestVersionsWithoutMetadataAccess(t *testing.T) {
	v := testenv.Vault(t)
	for i := range 3 {
		v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1 + strconv.Itoa(i)})
	}
	v.Policy(t, "data-only", `path "secret/data/app" { capabilities = ["read"] }`)
	h := newProvider(t, vaultEnv(v.Addr, v.NewToken(t, time.Hour, "data-only")), kv2PasswordV1)
	got, err := h.p.Versions(context.Background(), []providers.Key{key("secret/app")})
	if err != nil {
		t.Fatal(err)
	}
	if got[key("secret/app")] != "3" {
		t.Errorf("versions %v, want 3", got)
	}
}
