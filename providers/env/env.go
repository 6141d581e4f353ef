// Package env answers $<env:NAME> from the launcher's own environment.
package env

import (
	"context"
	"fmt"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Provider is the launcher's environment as it started, credentials included:
// $<env:AWS_SECRET_ACCESS_KEY> hands one on deliberately.
type Provider map[string]string

// Fetch returns the variable ref.Path.
func (p Provider) Fetch(_ context.Context, ref providers.Ref) (providers.Secret, error) {
	if ref.Version != "" || ref.Stage != "" {
		return providers.Secret{}, providers.Errorf(providers.ErrConfig, "environment variables have no versions")
	}
	v, ok := p[ref.Path]
	if !ok {
		return providers.Secret{}, fmt.Errorf("%w: the launcher's environment has no %s", providers.ErrNotFound, ref.Path)
	}
	if providers.HasRef(v) {
		return providers.Secret{}, providers.Errorf(providers.ErrConfig, "%s is itself a reference", ref.Path)
	}
	return providers.NewSecret(v, ""), nil
}
