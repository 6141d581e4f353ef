package vault_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/vault"
)

// Put writes a KV secret on v2 and v1 mounts, detected as Fetch detects
// them; what it writes resolves field by field.
func TestPut(t *testing.T) {
	v := testenv.Vault(t)
	v.EnableKV1(t, "kv1")
	p := vault.New(vault.Options{Getenv: func(k string) string {
		return map[string]string{"VAULT_ADDR": v.Addr, "VAULT_TOKEN": v.Token}[k]
	}})
	t.Cleanup(func() { p.Close() })
	ctx := context.Background()
	r := &providers.Resolver{Providers: map[string]providers.Provider{"vault": p}}
	for _, name := range []string{"secret/mcp/github", "kv1/mcp/github"} {
		if err := p.Put(ctx, name, map[string]string{"TOKEN": "ghp_vault_put_0123", "URL": "postgres://u:p@h/d"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res, err := r.Resolve(ctx, []providers.Var{{Name: "T", Value: "$<vault:" + name + "#TOKEN>"}, {Name: "U", Value: "$<vault:" + name + "#URL>"}})
		if err != nil || res[0].Value.Reveal() != "ghp_vault_put_0123" || res[1].Value.Reveal() != "postgres://u:p@h/d" {
			t.Fatalf("%s: resolve: %v", name, err)
		}
	}
	// On KV v2 a second Put is a second version.
	if err := p.Put(ctx, "secret/mcp/github", map[string]string{"TOKEN": "ghp_vault_put_v2"}); err != nil {
		t.Fatal(err)
	}
	s, err := v.Client().Logical().Read("secret/metadata/mcp/github")
	if err != nil || s == nil || s.Data["current_version"] == nil || s.Data["current_version"].(interface{ String() string }).String() != "2" {
		t.Errorf("metadata: %v %v", s, err)
	}
	// Raw KV v1 data holds exactly the values.
	raw, err := v.Client().Logical().Read("kv1/mcp/github")
	if err != nil || raw.Data["TOKEN"] != "ghp_vault_put_0123" || len(raw.Data) != 2 {
		t.Errorf("kv1: %v %v", raw, err)
	}
}

func TestPutRefused(t *testing.T) {
	v := testenv.Vault(t)
	v.Policy(t, "read-only", `path "secret/*" { capabilities = ["read", "list"] }`)
	token := v.NewToken(t, 0, "read-only")
	env := map[string]string{"VAULT_ADDR": v.Addr, "VAULT_TOKEN": token}
	p := vault.New(vault.Options{Getenv: func(k string) string { return env[k] }})
	t.Cleanup(func() { p.Close() })
	err := p.Put(context.Background(), "secret/mcp/x", map[string]string{"K": "vault-denied-value-1"})
	if !errors.Is(err, providers.ErrDenied) || strings.Contains(err.Error(), "vault-denied-value-1") {
		t.Errorf("read-only token: %v", err)
	}

	root := vault.New(vault.Options{Getenv: func(k string) string {
		return map[string]string{"VAULT_ADDR": v.Addr, "VAULT_TOKEN": v.Token}[k]
	}})
	t.Cleanup(func() { root.Close() })
	err = root.Put(context.Background(), "cubbyhole/mcp/x", map[string]string{"K": "v"})
	if !errors.Is(err, providers.ErrConfig) || !strings.Contains(err.Error(), "not on a KV secrets engine") {
		t.Errorf("cubbyhole: %v", err)
	}
}
