package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// describe turns an SDK error into one line of one of the provider kinds.
// azcore's ResponseError and azidentity's AuthenticationFailedError print
// the whole exchange (URL, headers, indented body): only the service's code
// and message are kept.
func describe(host string, err error) error {
	var re *azcore.ResponseError
	var ce credentialError
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer from %s in time", providers.ErrUnavailable, host)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: canceled", providers.ErrUnavailable)
	case errors.As(err, &re):
		return fmt.Errorf("%w: %s", providers.StatusKind(re.StatusCode), responseReason(re))
	case errors.As(err, &ce):
		return fmt.Errorf("%w: credential: %s", providers.ErrDenied, credentialReason(ce.err))
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Errorf("%w: no vault %s (no such host)", providers.ErrNotFound, host)
	case errors.As(err, &op):
		return fmt.Errorf("%w: %s unreachable: %s", providers.ErrUnavailable, host, oneLine(op.Error()))
	}
	return fmt.Errorf("%w: %s: %s", providers.ErrUnavailable, host, oneLine(err.Error()))
}

// responseReason is Key Vault's error code, status and message:
// "SecretNotFound (404): A secret with (name/id) db was not found in this key vault. …".
func responseReason(re *azcore.ResponseError) string {
	var body struct {
		Error struct {
			Code, Message string
			Inner         *struct{ Code string } `json:"innererror"`
		}
	}
	if re.RawResponse != nil {
		if b, err := runtime.Payload(re.RawResponse); err == nil {
			_ = json.Unmarshal(b, &body) // not JSON: the status alone
		}
	}
	reason := fmt.Sprintf("%d %s", re.StatusCode, http.StatusText(re.StatusCode))
	if code := body.Error.Code; code != "" {
		if body.Error.Inner != nil && body.Error.Inner.Code != "" {
			code += "/" + body.Error.Inner.Code
		}
		reason = fmt.Sprintf("%s (%d)", code, re.StatusCode)
	}
	if body.Error.Message != "" {
		reason += ": " + oneLine(body.Error.Message)
	}
	return reason
}

// credentialReason is why no token came: Entra ID's error description when
// it answered, else the credential's own message (DefaultAzureCredential's
// lists every credential it tried, one per line).
func credentialReason(err error) string {
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if b, perr := runtime.Payload(af.RawResponse); perr == nil && json.Unmarshal(b, &body) == nil && body.Error != "" {
			return oneLine(fmt.Sprintf("token request failed (%d): %s: %s", af.RawResponse.StatusCode, body.Error, body.Description))
		}
		return fmt.Sprintf("token request failed (%d)", af.RawResponse.StatusCode)
	}
	return oneLine(err.Error())
}

// maxReason bounds a message from a service or credential in an error.
const maxReason = 600

// oneLine collapses a message to one line of bounded length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxReason {
		s = string(r[:maxReason]) + "…"
	}
	return s
}
