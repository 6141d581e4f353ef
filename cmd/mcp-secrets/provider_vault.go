package main

import "github.com/mcp-secrets/mcp-secrets/providers"

// vaultProvider answers $<vault:...>. Placeholder until providers/vault lands.
func (a *app) vaultProvider() providers.Provider { return unbuilt("vault") }
