// Package launch is the application core every command wires: references
// resolved into values, the values into a child's argv and environment, and
// that launch's fingerprint, which says whether a rotation changed anything
// the child would see. run, exec, check, serve and connect share it.
package launch

import (
	"crypto/sha256"
	"slices"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Launch is what a child starts with.
type Launch struct {
	Argv, Env []string
}

// Resolution is one resolution of a launch, and where its values came from.
type Resolution struct {
	Launch   Launch
	Resolved []providers.Resolved
}

// Fingerprint digests a launch: the child restarts only when it changes.
func (l Launch) Fingerprint() [32]byte {
	h := sha256.New()
	for _, a := range l.Argv {
		h.Write([]byte(a))
		h.Write([]byte{0})
	}
	h.Write([]byte{0})
	env := slices.Clone(l.Env)
	slices.Sort(env)
	for _, kv := range env {
		h.Write([]byte(kv))
		h.Write([]byte{0})
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}
