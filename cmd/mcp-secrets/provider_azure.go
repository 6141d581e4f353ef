package main

import (
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/azure"
)

// azureProvider answers $<azure:...>.
func (a *app) azureProvider() providers.Provider {
	return azure.New(azure.Options{Getenv: a.getenv, Log: a.log})
}
