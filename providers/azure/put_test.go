package azure

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
)

// Put sets a secret holding a JSON object, through the real azsecrets
// client; each Put is a new current version.
func TestPut(t *testing.T) {
	s := azuretest.New(t, azuretest.Options{})
	p, log := newProvider(t, s)
	ctx := context.Background()
	if err := p.Put(ctx, "testvault/mcp-github", map[string]string{"TOKEN": "ghp_azure_put_0123", "X": "y"}); err != nil {
		t.Fatal(err)
	}
	v, first, ok := s.Latest("mcp-github")
	if !ok || v != `{"TOKEN":"ghp_azure_put_0123","X":"y"}` {
		t.Fatalf("stored %q", v)
	}
	res, err := resolver(p).Resolve(ctx, []providers.Var{{Name: "T", Value: "$<azure:testvault/mcp-github#TOKEN>"}})
	if err != nil || res[0].Value.Reveal() != "ghp_azure_put_0123" {
		t.Fatalf("resolve: %v", err)
	}
	if err := p.Put(ctx, "testvault/mcp-github", map[string]string{"TOKEN": "ghp_azure_put_v2"}); err != nil {
		t.Fatal(err)
	}
	if _, second, _ := s.Latest("mcp-github"); second == first {
		t.Error("the second Put made no new version")
	}
	noValues(t, "log", log.String(), "ghp_azure_put_0123", "ghp_azure_put_v2")
}

func TestPutRefused(t *testing.T) {
	s := azuretest.New(t, azuretest.Options{})
	p, _ := newProvider(t, s)
	s.Deny("mcp-locked")
	err := p.Put(context.Background(), "testvault/mcp-locked", map[string]string{"K": "azure-denied-value"})
	if !errors.Is(err, providers.ErrDenied) || strings.Contains(err.Error(), "azure-denied-value") {
		t.Errorf("denied: %v", err)
	}
	for _, name := range []string{"testvault/bad_name", "testvault/x/0123456789abcdef", "https://testvault.vault.azure.net/secrets/x/0123456789abcdef"} {
		if err := p.Put(context.Background(), name, map[string]string{"K": "v"}); !errors.Is(err, providers.ErrConfig) {
			t.Errorf("%s: %v, want a configuration error", name, err)
		}
	}
}
