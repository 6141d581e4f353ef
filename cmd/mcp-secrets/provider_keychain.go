package main

import (
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/keychain"
)

// keychainProvider answers $<keychain:SERVICE/ACCOUNT>. It reaches the
// keychain (on Linux, D-Bus) only when a reference to it is resolved.
func (a *app) keychainProvider() providers.Provider {
	return keychain.New(keychain.Options{Log: a.log})
}
