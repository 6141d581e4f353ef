package providers

import (
	"context"
	"errors"
	"fmt"
)

// A Provider fetches secrets from one store. Fetch gets the whole secret the
// reference's Key names; the resolver applies #field.
type Provider interface {
	Fetch(ctx context.Context, ref Ref) (Secret, error)
}

// Configurer is implemented by providers that can tell, without a network
// call, whether this machine is set up to use them (credentials, address).
// Under --fallback auto a reference to an unconfigured provider takes its
// value from the dotenv file instead.
type Configurer interface {
	Configured() bool
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

// Errorf returns an error of the given kind whose message is the formatted
// text alone, for kinds whose name would add nothing ("configuration: ...").
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
