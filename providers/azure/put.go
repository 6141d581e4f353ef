package azure

import (
	"context"
	"encoding/json"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Put stores values as the secret name (VAULT/NAME), a JSON object, for
// mcp-secrets wrap: SetSecret adds a version, which becomes the current one.
func (p *Provider) Put(ctx context.Context, name string, values map[string]string) error {
	loc, err := p.locate(providers.Ref{Provider: "azure", Path: name})
	if err != nil {
		return err
	}
	if loc.version != "" {
		return providers.Errorf(providers.ErrConfig, "%s names a version: a new one cannot be written there", name)
	}
	v, err := p.vault(loc.host)
	if err != nil {
		return err
	}
	b, err := json.Marshal(values)
	if err != nil {
		return err // strings always encode
	}
	value, contentType := string(b), "application/json"
	err = v.do(ctx, func(ctx context.Context) error {
		_, err := v.client.SetSecret(ctx, loc.name, azsecrets.SetSecretParameters{Value: &value, ContentType: &contentType}, nil)
		return err
	})
	if err != nil {
		return describe(v.host, err)
	}
	return nil
}
