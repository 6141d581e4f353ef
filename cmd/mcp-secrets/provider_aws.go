package main

import "github.com/mcp-secrets/mcp-secrets/providers"

// awsProvider answers $<aws:...>. Placeholder until providers/aws lands.
func (a *app) awsProvider() providers.Provider { return unbuilt("aws") }
