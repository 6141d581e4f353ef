package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

// Tokens gets access tokens for the remote with the client-credentials
// grant (RFC 6749 §4.4) and the RFC 8707 resource parameter, keeps them in
// memory only, and gets a new one before the current one expires, or once
// the client secret has changed.
type Tokens struct {
	ClientID string
	Endpoint Endpoint
	Client   *http.Client  // for the token endpoint
	Timeout  time.Duration // of a token request
	// Hide gets the access tokens in use: a token is a secret too, and the
	// remote server may print it.
	Hide func([]redact.Secret)

	mu     sync.Mutex
	tok    *oauth2.Token
	got    time.Time
	secret string // the client secret tok was got with
	hidden []redact.Secret
}

// Token is an access token for requests made with the client secret
// secret: the one in hand while it is valid, else a new one.
func (t *Tokens) Token(ctx context.Context, secret string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.tok != nil && t.secret == secret && !t.expiring(now) {
		return t.tok.AccessToken, nil
	}
	cfg := clientcredentials.Config{
		ClientID:       t.ClientID,
		ClientSecret:   secret,
		TokenURL:       t.Endpoint.TokenURL,
		Scopes:         t.Endpoint.Scopes,
		EndpointParams: url.Values{"resource": {t.Endpoint.Resource}},
		AuthStyle:      t.Endpoint.AuthStyle,
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.Client)
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		return "", t.explain(err)
	}
	t.tok, t.got, t.secret = tok, now, secret
	// This token and the one before it (requests may still carry it).
	t.hidden = append(t.hidden[max(0, len(t.hidden)-1):], redact.Secret{Name: "ACCESS_TOKEN", Value: tok.AccessToken})
	if t.Hide != nil {
		t.Hide(t.hidden)
	}
	return tok.AccessToken, nil
}

// expiring reports whether the token expires soon: within a quarter of its
// lifetime, at most 10s, so a short-lived token is not renewed at every
// request nor used after its end.
func (t *Tokens) expiring(now time.Time) bool {
	if t.tok.Expiry.IsZero() {
		return false
	}
	margin := min(10*time.Second, t.tok.Expiry.Sub(t.got)/4)
	return !now.Before(t.tok.Expiry.Add(-margin))
}

// drop forgets the token after the server refused it (revoked before its
// end), unless it is newer than refreshEvery: a server that refuses every
// token must not turn into a stream of token requests.
func (t *Tokens) drop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok == nil || time.Since(t.got) < refreshEvery {
		return false
	}
	t.tok = nil
	return true
}

// explain makes a token endpoint's refusal one line, with the kind that
// decides the exit code. The endpoint's own words are quoted, short.
func (t *Tokens) explain(err error) error {
	where := fmt.Sprintf("oauth: %s (client %s)", t.Endpoint.TokenURL, t.ClientID)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		why := re.ErrorCode
		if re.ErrorDescription != "" {
			why += ": " + re.ErrorDescription
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if why == "" {
			why = http.StatusText(status)
		}
		why = oneLine(why, 200)
		switch {
		case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" || status == http.StatusUnauthorized:
			return providers.Errorf(providers.ErrDenied, "%s: the authorization server refused the client credentials (%s)", where, why)
		case status >= 500:
			return providers.Errorf(providers.ErrUnavailable, "%s: %d %s", where, status, why)
		}
		return providers.Errorf(providers.ErrConfig, "%s: the authorization server refused the token request (%s)", where, why)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return providers.Errorf(providers.ErrUnavailable, "%s: %w", where, ue.Err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// oneLine is text from a peer as one line of at most max bytes.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
