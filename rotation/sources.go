// Package rotation watches the secrets a child uses and tells the supervisor
// when its environment really changed: provider polls, lease renewals and
// file watches produce hints; a hint re-resolves, and only a different
// fingerprint of the child's would-be environment restarts it.
package rotation

import (
	"context"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// VersionLister is a provider that can report the current version of many
// secrets cheaply, in as few API calls as its store allows. A version is an
// opaque marker that changes whenever the value may have (a version id, or
// a digest where the store has none). Keys the store does not have are
// absent from the map, not an error. An error means the store could not be
// asked (unreachable, throttled, denied): the poller backs off and keeps the
// old values.
type VersionLister interface {
	Versions(ctx context.Context, keys []providers.Key) (map[providers.Key]string, error)
}

// Renewer is a provider of leased secrets. Renew extends a lease and returns
// it with its new TTL; a TTL shorter than asked for means the lease is near
// its maximum. An error of kind providers.ErrNotFound or ErrDenied means it
// can no longer be renewed.
type Renewer interface {
	Renew(ctx context.Context, lease providers.Lease) (providers.Lease, error)
}

// FileSource is a provider whose secrets live in local files, watched with
// fsnotify on their directories.
type FileSource interface {
	Files(key providers.Key) []string
}
