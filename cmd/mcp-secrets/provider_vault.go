package main

import (
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/vault"
)

// vaultProvider answers $<vault:...>. It renews its Vault token in the
// background once used: close it (io.Closer) when the session ends.
func (a *app) vaultProvider() providers.Provider {
	return vault.New(vault.Options{Getenv: a.getenv, Log: a.log})
}
