package vault_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/providertest"
)

// kvStore is a KV mount of a real Vault dev server: v2 keeps versions,
// v1 does not.
type kvStore struct {
	v        *testenv.VaultServer
	mount    string
	v2       bool
	p        providers.Provider
	versions map[string]int // KV v2 writes so far, by name
	weak     string         // a token that may read nothing of the mount, once made
}

func newKVStore(t *testing.T, v *testenv.VaultServer, mount string, v2 bool) *kvStore {
	return &kvStore{v: v, mount: mount, v2: v2, p: newProvider(t, vaultEnv(v.Addr, v.Token)).p, versions: map[string]int{}}
}

func (s *kvStore) Provider() providers.Provider { return s.p }

// Set writes a JSON object as the secret's data, any other value as its
// one key, which a reference without #field reads.
func (s *kvStore) Set(t testing.TB, name, value string) string {
	var data map[string]any
	if json.Unmarshal([]byte(value), &data) != nil {
		data = map[string]any{"value": value}
	}
	s.v.Write(t, s.mount+"/"+name, data)
	if !s.v2 {
		return ""
	}
	s.versions[name]++
	return strconv.Itoa(s.versions[name])
}

func (s *kvStore) Ref(name, field, version string) string {
	return providers.Ref{Provider: "vault", Path: s.mount + "/" + name, Version: version, Field: field}.String()
}

// Deny returns a provider whose token's policy grants another path only.
func (s *kvStore) Deny(t testing.TB, _ string) providers.Provider {
	if s.weak == "" {
		s.v.Policy(t, "other-only", `path "secret/data/other" { capabilities = ["read"] }`)
		s.weak = s.v.NewToken(t, time.Hour, "other-only")
	}
	return newProvider(t, vaultEnv(s.v.Addr, s.weak), s.weak).p
}

func (s *kvStore) Unreachable(t testing.TB) providers.Provider {
	return newProvider(t, vaultEnv("http://127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), "root")).p
}

// kv2Store is a KV v2 mount: it keeps versions, KV v1 does not.
type kv2Store struct{ *kvStore }

func (kv2Store) Versioned() {}

var (
	_ providertest.Denier    = (*kvStore)(nil)
	_ providertest.Remote    = (*kvStore)(nil)
	_ providertest.Versioned = kv2Store{}
)

func TestSuite(t *testing.T) {
	v := testenv.Vault(t)
	v.EnableKV1(t, "kv1")
	t.Run("kv2", func(t *testing.T) { providertest.Run(t, kv2Store{newKVStore(t, v, "secret", true)}) })
	t.Run("kv1", func(t *testing.T) { providertest.Run(t, newKVStore(t, v, "kv1", false)) })
}
