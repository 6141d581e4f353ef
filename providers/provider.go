package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// A Provider fetches secrets from one store. Fetch gets the whole secret the
// reference's Key names; the resolver applies #field.
//
// The interfaces below are a provider's optional abilities, each found by a
// type assertion in the package that uses it. A provider asserts at compile
// time every one it has (var _ providers.VersionLister = (*Provider)(nil)),
// so a signature that drifts fails the build instead of silently turning a
// feature off for one store. A provider that keeps work running in the
// background (Vault's token renewal) is also an io.Closer, closed when the
// session ends.
type Provider interface {
	Fetch(ctx context.Context, ref Ref) (Secret, error)
}

// Close ends what the stores started in the background (Vault's token
// renewal): each one that is an io.Closer.
func Close(stores map[string]Provider) {
	for _, p := range stores {
		if c, ok := p.(io.Closer); ok {
			c.Close()
		}
	}
}

// Configurer is implemented by providers that can tell, without a network
// call, whether this machine is set up to use them (credentials, address):
// aws, azure, vault, keychain. Under --fallback auto the resolver takes a
// reference to an unconfigured provider from the dotenv file instead;
// rotation's cache keeps only these providers' answers (the others read
// files, which costs nothing).
type Configurer interface {
	Configured() bool
}

// VersionLister is a provider that can report the current version of many
// secrets cheaply, in as few API calls as its store allows: aws, azure,
// vault (KV), keychain. rotation polls it. A version is an opaque marker that changes
// whenever the value may have (a version id, or a keyed digest where the
// store has none). Keys the store does not have are absent from the map, not
// an error. An error means the store could not be asked (unreachable,
// throttled, denied): the poller backs off and keeps the old values.
type VersionLister interface {
	Versions(ctx context.Context, keys []Key) (map[Key]string, error)
}

// Renewer is a provider of leased secrets (vault: dynamic credentials);
// rotation keeps their leases alive. Renew extends a lease and returns it
// with its new TTL; a TTL shorter than asked for means the lease is near its
// maximum. An error of kind ErrNotFound or ErrDenied means it can no longer
// be renewed.
type Renewer interface {
	Renew(ctx context.Context, lease Lease) (Lease, error)
}

// FileSource is a provider whose secrets live in local files (file):
// rotation watches the files it names, with fsnotify on their directories.
type FileSource interface {
	Files(key Key) []string
}

// Writer is a provider that can store secrets, for mcp-secrets wrap and
// set: aws, azure, vault and keychain put values as one secret named name,
// a JSON object; dotenv appends them to its file as variables named by
// their keys. Reads stay with Fetch.
type Writer interface {
	Put(ctx context.Context, name string, values map[string]string) error
}

// ValueSetter is a provider that keeps one whole value at a path, where
// the other Writers keep JSON objects (keychain): mcp-secrets set without a
// #field.
type ValueSetter interface {
	SetValue(ctx context.Context, path, value string) error
}

// The kinds of failure a user sees. Providers wrap them with the store's own
// reason: fmt.Errorf("%w: %s", ErrNotFound, msg).
var (
	ErrNotFound    = errors.New("not found")
	ErrDenied      = errors.New("access denied")
	ErrUnavailable = errors.New("unavailable")
	// ErrConfig is a reference or setting the provider cannot use (a bad
	// path form, a missing region).
	ErrConfig = errors.New("configuration")
	// ErrMalformed is text that does not parse: a reference, a dotenv file.
	ErrMalformed = errors.New("malformed")
)

// StatusKind is the kind of failure an HTTP status of a store's API means,
// once the store's own retries are spent. 412 is Vault's answer when a
// performance standby has not yet caught up with a write, and 408 a
// server's when a request came too slowly: both pass, as throttling and 5xx
// do. Every other status is a request the store cannot serve as made;
// stores refine it from their own error codes (AWS answers most failures
// 400, Vault a lease that is gone).
func StatusKind(code int) error {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return ErrDenied
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusRequestTimeout || code == http.StatusPreconditionFailed ||
		code == http.StatusTooManyRequests || code >= 500:
		return ErrUnavailable
	}
	return ErrConfig
}

// Errorf returns an error of the given kind whose message is the formatted
// text alone, for kinds whose name would add nothing ("configuration: ...").
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
