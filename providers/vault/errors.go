package vault

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// failure turns an error of the api client into one line of the kind the
// user sees: what was attempted and Vault's own reason. The api's own
// message is not used: it spans lines and may quote a response body.
// secrets (the credentials the request carried) are cut out of the reason,
// should anything echo them.
func failure(what string, err error, secrets ...string) error {
	f := classify(err)
	return f.as(f.kind, what, secrets)
}

// fault is a classified error.
type fault struct {
	kind   error
	status int // HTTP status of Vault's answer, 0 without one
	reason string
}

func classify(err error) fault {
	var re *api.ResponseError
	var cert *tls.CertificateVerificationError
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fault{kind: providers.ErrUnavailable, reason: "timed out"}
	case errors.Is(err, context.Canceled):
		return fault{kind: providers.ErrUnavailable, reason: "canceled"}
	case errors.As(err, &re):
		f := fault{kind: providers.StatusKind(re.StatusCode), status: re.StatusCode, reason: responseReason(re)}
		if strings.Contains(f.reason, "no handler for route") {
			f.kind = providers.ErrConfig // a path on no mount: no secret could ever be there
		}
		return f
	case errors.As(err, &cert):
		return fault{kind: providers.ErrConfig, reason: cert.Error()}
	case errors.As(err, &ue):
		return fault{kind: providers.ErrUnavailable, reason: ue.Err.Error()} // the URL is in what
	}
	return fault{kind: providers.ErrUnavailable, reason: err.Error()}
}

func (f fault) as(kind error, what string, secrets []string) error {
	reason := f.reason
	for _, s := range secrets {
		if s != "" {
			reason = strings.ReplaceAll(reason, s, "[REDACTED]")
		}
	}
	return fmt.Errorf("%w: %s: %s", kind, what, strings.Join(strings.Fields(reason), " "))
}

// responseReason is Vault's error list, or the status when it sent none or
// sent something that is not its JSON.
func responseReason(re *api.ResponseError) string {
	status := strconv.Itoa(re.StatusCode) + " " + http.StatusText(re.StatusCode)
	if re.RawError || len(re.Errors) == 0 {
		if re.StatusCode == http.StatusNotFound {
			return "no secret at this path"
		}
		return status
	}
	var reasons []string
	for _, e := range re.Errors {
		reasons = append(reasons, unlist(e)...)
	}
	return strings.Join(reasons, "; ")
}

// unlist takes the items out of go-multierror's "1 error occurred:\n\t* a\n\n",
// which Vault sends as one error.
func unlist(e string) []string {
	_, list, ok := strings.Cut(e, " occurred:\n")
	if !ok {
		return []string{e}
	}
	var items []string
	for line := range strings.SplitSeq(list, "\n") {
		if item, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok {
			items = append(items, item)
		}
	}
	return items
}
