// macOS and Windows have a keychain for every user who logs in.

//go:build darwin || windows

package keychain

import "github.com/mcp-secrets/mcp-secrets/providers"

func findBus() error { return nil }

func serviceUp() error { return nil }

// unlocked has nothing to ask here: go-keyring's calls are the only way in.
func unlocked() error { return nil }

// platformError is the kind of a failure of the keychain, and its reason
// (the security command's exit status on macOS, a Win32 error on Windows).
func platformError(err error) (kind error, reason string) {
	return providers.ErrUnavailable, err.Error()
}
