package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// failure's message is one line with Vault's reason, never a credential
// the request carried, nor a response body Vault did not write.
func TestFailure(t *testing.T) {
	const secretID = "7d1e0c3a-secret-id"
	tests := []struct {
		name string
		err  error
		kind error
		want string
	}{
		{"multierror list", &api.ResponseError{StatusCode: 403, Errors: []string{"2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"}},
			providers.ErrDenied, "access denied: op: permission denied; invalid token"},
		{"echoed credential", &api.ResponseError{StatusCode: 400, Errors: []string{"invalid secret_id " + secretID}},
			providers.ErrConfig, "configuration: op: invalid secret_id [REDACTED]"},
		{"raw body", &api.ResponseError{StatusCode: 502, RawError: true, Errors: []string{"<html>proxy says " + secretID + "</html>"}},
			providers.ErrUnavailable, "unavailable: op: 502 Bad Gateway"},
		{"empty 404", &api.ResponseError{StatusCode: 404}, providers.ErrNotFound, "not found: op: no secret at this path"},
		{"no mount", &api.ResponseError{StatusCode: 404, Errors: []string{`no handler for route "x/y". route entry not found.`}},
			providers.ErrConfig, `configuration: op: no handler for route "x/y". route entry not found.`},
		{"sealed", &api.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}}, providers.ErrUnavailable, "unavailable: op: Vault is sealed"},
		{"throttled", &api.ResponseError{StatusCode: 429, Errors: []string{"rate limit quota exceeded"}}, providers.ErrUnavailable, "unavailable: op: rate limit quota exceeded"},
		{"timeout", fmt.Errorf("retrying: %w", context.DeadlineExceeded), providers.ErrUnavailable, "unavailable: op: timed out"},
		{"refused", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v1/x?version=2", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}},
			providers.ErrUnavailable, "unavailable: op: dial tcp: connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := failure("op", tt.err, secretID, "")
			if !errors.Is(err, tt.kind) || err.Error() != tt.want {
				t.Errorf("failure = %q (%v), want %q (%v)", err, errors.Is(err, tt.kind), tt.want, tt.kind)
			}
			if strings.Contains(err.Error(), secretID) || strings.Contains(err.Error(), "\n") {
				t.Errorf("failure = %q: shows the credential or spans lines", err)
			}
		})
	}
}
