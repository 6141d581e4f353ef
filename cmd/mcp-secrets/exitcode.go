package main

import (
	"errors"
	"io/fs"
	"os/exec"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Exit codes of the launcher's own failures (sysexits.h), documented in the
// README. A child's own code passes through unchanged.
const (
	exitUsage       = 64 // EX_USAGE: bad flags or arguments
	exitDataErr     = 65 // EX_DATAERR: a malformed reference or config
	exitUnavailable = 69 // EX_UNAVAILABLE: a provider cannot be reached
	exitSoftware    = 70 // EX_SOFTWARE: anything else
	exitNoPerm      = 77 // EX_NOPERM: access denied
	exitConfig      = 78 // EX_CONFIG: a secret or setting not found
	exitCannotExec  = 126
	exitNotFound    = 127
)

// usageError is a command line that makes no sense.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps an error to the launcher's exit code. When several
// variables fail, the first kind in this order decides.
func exitCode(err error) int {
	var use usageError
	var start *injector.StartError
	switch {
	case errors.As(err, &use):
		return exitUsage
	case errors.Is(err, providers.ErrMalformed):
		return exitDataErr
	case errors.As(err, &start):
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return exitNotFound
		}
		return exitCannotExec
	case errors.Is(err, providers.ErrDenied):
		return exitNoPerm
	case errors.Is(err, providers.ErrUnavailable):
		return exitUnavailable
	case errors.Is(err, providers.ErrNotFound), errors.Is(err, providers.ErrConfig):
		return exitConfig
	}
	return exitSoftware
}
