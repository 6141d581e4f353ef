package main

import "github.com/mcp-secrets/mcp-secrets/providers"

// azureProvider answers $<azure:...>. Placeholder until providers/azure lands.
func (a *app) azureProvider() providers.Provider { return unbuilt("azure") }
