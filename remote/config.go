package remote

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Config is a remote server as configured: its URL and headers, whose
// values may hold references, and OAuth client credentials.
type Config struct {
	URL     string
	Headers []Header
	OAuth   *OAuthConfig // nil: none
}

// Header is one header sent with every request; its value may hold
// references.
type Header struct{ Name, Value string }

// OAuthConfig is a client-credentials client of the remote's authorization
// server.
type OAuthConfig struct {
	ClientID     string
	ClientSecret string // holds a reference: argv is readable by every user
	TokenURL     string // "": discovered from the remote's metadata
}

// The variables a remote's values are resolved under (launch.Resolver
// resolves variables): the URL and the client secret under these names,
// each header under its own name, which names the value in a redaction
// marker and the dotenv variable --fallback reads.
const (
	urlVar    = "URL"
	secretVar = "OAUTH_CLIENT_SECRET"
)

// ParseHeader reads a --header flag, 'NAME: VALUE'.
func ParseHeader(s string) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return Header{}, fmt.Errorf("--header %q: want 'NAME: VALUE'", s)
	}
	return Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}, nil
}

// Check reports what makes the configuration unusable before anything
// resolves: a URL that is not http(s), a header name that is not one or
// that the bridge sets itself, a name given twice, a client secret that is
// not a reference.
func (c Config) Check() error {
	if !providers.HasRef(c.URL) {
		if err := checkURL(c.URL); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, h := range c.Headers {
		key := strings.ToLower(h.Name)
		switch {
		case !validName(h.Name):
			return fmt.Errorf("header %q: not a header name", h.Name)
		case slices.Contains(ownHeaders, key) || key == strings.ToLower(urlVar) || key == strings.ToLower(secretVar):
			return fmt.Errorf("header %s: set by mcp-secrets itself", h.Name)
		case slices.Contains(launch.Credentials, h.Name):
			return fmt.Errorf("header %s: the name of a provider credential, which mcp-secrets never passes on", h.Name)
		case seen[key]:
			return fmt.Errorf("header %s: given twice", h.Name)
		case strings.ContainsAny(h.Value, "\r\n\x00"):
			return fmt.Errorf("header %s: the value holds a line break or a NUL byte", h.Name)
		case key == "authorization" && c.OAuth != nil:
			return errors.New("header Authorization: the OAuth client credentials set it")
		}
		seen[key] = true
	}
	if c.OAuth == nil {
		return nil
	}
	if c.OAuth.ClientID == "" || c.OAuth.ClientSecret == "" {
		return errors.New("--oauth-client-id and --oauth-client-secret go together")
	}
	if t, err := providers.Parse(c.OAuth.ClientSecret); err != nil || len(t.Refs()) == 0 {
		return errors.New("--oauth-client-secret: give a reference, such as $<vault:secret/mcp#client_secret>: argv is readable by every user")
	}
	if c.OAuth.TokenURL != "" {
		if err := checkTokenURL(c.OAuth.TokenURL); err != nil {
			return fmt.Errorf("--oauth-token-url: %w", err)
		}
	}
	return nil
}

// ownHeaders are the headers the bridge and the proxy set themselves, and
// those only the transport may set.
var ownHeaders = []string{
	"accept", "content-type", "content-length", "host", "connection", "transfer-encoding", "upgrade", "te", "trailer",
	"mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id",
}

// validName reports whether s is an HTTP field name (RFC 9110 token).
func validName(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// checkURL refuses a URL that is not an absolute http(s) URL. Its text is
// not quoted: it may hold a resolved secret.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("the URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return errors.New("the URL must be http:// or https:// with a host")
	}
	return nil
}

// Environ is the configuration as variables for launch.Resolver's
// ResolveEnv; Target reads the resolved launch back.
func (c Config) Environ() []string {
	env := []string{urlVar + "=" + c.URL}
	for _, h := range c.Headers {
		env = append(env, h.Name+"="+h.Value)
	}
	if c.OAuth != nil {
		env = append(env, secretVar+"="+c.OAuth.ClientSecret)
	}
	return env
}

// Target is one resolution of a remote: where requests go and what they
// carry.
type Target struct {
	URL          *url.URL
	Header       http.Header
	ClientSecret providers.Secret
}

// TargetOf reads a launch built from Config.Environ back.
func TargetOf(l launch.Launch) (*Target, error) {
	t := &Target{Header: http.Header{}}
	for _, kv := range l.Env {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case name == urlVar:
			if err := checkURL(value); err != nil {
				return nil, providers.Errorf(providers.ErrMalformed, "%s: %w", urlVar, err)
			}
			t.URL, _ = url.Parse(value)
		case name == secretVar:
			t.ClientSecret = providers.NewSecret(value, "")
		case strings.ContainsAny(value, "\r\n\x00"):
			return nil, providers.Errorf(providers.ErrMalformed, "header %s: the value holds a line break or a NUL byte", name)
		default:
			t.Header[http.CanonicalHeaderKey(name)] = []string{value}
		}
	}
	if t.URL == nil {
		return nil, providers.Errorf(providers.ErrMalformed, "no %s", urlVar)
	}
	return t, nil
}

// resource is the URL as the authorization server knows the remote (RFC
// 8707): without query and fragment, which may hold a secret.
func resource(u *url.URL) string {
	r := *u
	r.RawQuery, r.Fragment, r.RawFragment, r.User = "", "", "", nil
	return r.String()
}
