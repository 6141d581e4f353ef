package azure

import (
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
	"github.com/mcp-secrets/mcp-secrets/providers/providertest"
)

// keyVault is the test server's default vault, read by the real azsecrets
// client over TLS.
type keyVault struct {
	s *azuretest.Server
	p *Provider
}

var (
	_ providertest.Versioned = keyVault{}
	_ providertest.Denier    = keyVault{}
	_ providertest.Remote    = keyVault{}
)

func (kv keyVault) Provider() providers.Provider { return kv.p }

func (kv keyVault) Versioned() {}

func (kv keyVault) Set(_ testing.TB, name, value string) string { return kv.s.Set(name, value) }

func (kv keyVault) Ref(name, field, version string) string {
	return providers.Ref{Provider: "azure", Path: kv.s.Name() + "/" + name, Version: version, Field: field}.String()
}

func (kv keyVault) Deny(_ testing.TB, name string) providers.Provider {
	kv.s.Deny(name)
	return kv.p
}

// Unreachable is a provider for a server of its own, stopped: this one
// keeps serving.
func (kv keyVault) Unreachable(t testing.TB) providers.Provider {
	down := azuretest.New(t, azuretest.Options{})
	down.Stop()
	p, _ := newProvider(t, down)
	return p
}

func TestSuite(t *testing.T) {
	s := azuretest.New(t, azuretest.Options{})
	p, _ := newProvider(t, s)
	providertest.Run(t, keyVault{s, p})
}
