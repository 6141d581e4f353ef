package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Endpoint is where the remote's access tokens come from, and how to ask.
type Endpoint struct {
	TokenURL  string
	Resource  string // RFC 8707: the remote as the authorization server knows it
	Scopes    []string
	AuthStyle oauth2.AuthStyle
}

// StaticEndpoint is the endpoint of --oauth-token-url, without metadata.
func StaticEndpoint(tokenURL string, tg *Target) Endpoint {
	return Endpoint{TokenURL: tokenURL, Resource: resource(tg.URL), AuthStyle: oauth2.AuthStyleAutoDetect}
}

// maxMetadata bounds a metadata document.
const maxMetadata = 1 << 20

// Discover finds the token endpoint of the remote's authorization server as
// the MCP authorization spec has clients do: the RFC 9728 resource
// metadata that the remote's 401 names (else its well-known URIs), then the
// authorization server's RFC 8414 metadata (else its OpenID
// configuration). The remote chooses the authorization server, and the
// client secret goes there: its token endpoint must be https (or
// loopback), and --oauth-token-url pins it instead.
func Discover(ctx context.Context, client *http.Client, tg *Target) (Endpoint, error) {
	where := "oauth discovery: " + resource(tg.URL)
	challenge, err := probe(ctx, client, tg)
	if err != nil {
		return Endpoint{}, providers.Errorf(providers.ErrUnavailable, "%s: %w", where, err)
	}
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	candidates := resourceMetadata(tg.URL)
	if u := challenge["resource_metadata"]; u != "" {
		candidates = []string{u}
	}
	from, err := getFirst(ctx, client, candidates, &prm)
	switch {
	case errors.Is(err, errNoMetadata):
		return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: no protected resource metadata (RFC 9728) at %s; give --oauth-token-url", where, strings.Join(candidates, " or "))
	case err != nil:
		return Endpoint{}, err
	case !covers(prm.Resource, tg.URL):
		return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: %s is the metadata of %q, not of this server", where, from, prm.Resource)
	case len(prm.AuthorizationServers) == 0:
		return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: %s names no authorization server; give --oauth-token-url", where, from)
	}
	issuer := prm.AuthorizationServers[0]
	iu, err := url.Parse(issuer)
	if err != nil || iu.Host == "" {
		return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: %s: the authorization server %q is not a URL", where, from, issuer)
	}
	var asm struct {
		Issuer           string   `json:"issuer"`
		TokenEndpoint    string   `json:"token_endpoint"`
		GrantTypes       []string `json:"grant_types_supported"`
		TokenAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	candidates = serverMetadata(iu)
	from, err = getFirst(ctx, client, candidates, &asm)
	switch {
	case errors.Is(err, errNoMetadata):
		return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: no authorization server metadata (RFC 8414) for %s; give --oauth-token-url", where, issuer)
	case err != nil:
		return Endpoint{}, err
	case strings.TrimSuffix(asm.Issuer, "/") != strings.TrimSuffix(issuer, "/"):
		return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: %s is the metadata of issuer %q, not of %q", where, from, asm.Issuer, issuer)
	case len(asm.GrantTypes) > 0 && !slices.Contains(asm.GrantTypes, "client_credentials"):
		return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: the authorization server %s does not offer the client_credentials grant", where, issuer)
	}
	if err := checkTokenURL(asm.TokenEndpoint); err != nil {
		return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: %s: token_endpoint: %w", where, from, err)
	}
	e := Endpoint{TokenURL: asm.TokenEndpoint, Resource: prm.Resource, Scopes: prm.ScopesSupported, AuthStyle: oauth2.AuthStyleInHeader}
	if s := challenge["scope"]; s != "" {
		e.Scopes = strings.Fields(s)
	}
	// RFC 8414: client_secret_basic when the list is absent.
	if len(asm.TokenAuthMethods) > 0 && !slices.Contains(asm.TokenAuthMethods, "client_secret_basic") {
		if !slices.Contains(asm.TokenAuthMethods, "client_secret_post") {
			return Endpoint{}, providers.Errorf(providers.ErrConfig, "%s: the authorization server %s takes a client secret neither by basic auth nor in the body", where, issuer)
		}
		e.AuthStyle = oauth2.AuthStyleInParams
	}
	return e, nil
}

// probe sends the remote a request without a token and returns the
// parameters of the Bearer challenge of its 401, if it answers so.
func probe(ctx context.Context, client *http.Client, tg *Target) (map[string]string, error) {
	body := []byte(`{"jsonrpc":"2.0","id":"mcp-secrets-discovery","method":"ping"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.URL.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range tg.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return nil, urlErr(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxMetadata))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return nil, nil
	}
	return bearerParams(resp.Header.Values("WWW-Authenticate")), nil
}

// resourceMetadata are the well-known URIs of u's resource metadata (RFC
// 9728 §3.1): with u's path inserted after the host, then at the root.
func resourceMetadata(u *url.URL) []string {
	const name = "/.well-known/oauth-protected-resource"
	if p := strings.TrimSuffix(u.Path, "/"); p != "" {
		return []string{origin(u, name+p), origin(u, name)}
	}
	return []string{origin(u, name)}
}

// serverMetadata are the well-known URIs of an authorization server's
// metadata, in the order the MCP authorization spec gives: RFC 8414's,
// then OpenID Connect's, with the issuer's path inserted (and appended, for
// OpenID's).
func serverMetadata(issuer *url.URL) []string {
	const oauth, oidc = "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"
	p := strings.TrimSuffix(issuer.Path, "/")
	if p == "" {
		return []string{origin(issuer, oauth), origin(issuer, oidc)}
	}
	return []string{origin(issuer, oauth+p), origin(issuer, oidc+p), origin(issuer, p+oidc)}
}

// origin is path at u's origin.
func origin(u *url.URL, path string) string {
	w := url.URL{Scheme: u.Scheme, Host: u.Host, Path: path}
	return w.String()
}

var errNoMetadata = errors.New("no metadata")

// getFirst decodes the first of urls that answers 200 with JSON into v, and
// returns it; errNoMetadata if each answers 4xx.
func getFirst(ctx context.Context, client *http.Client, urls []string, v any) (string, error) {
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return u, providers.Errorf(providers.ErrConfig, "oauth discovery: %s: %w", u, err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return u, providers.Errorf(providers.ErrUnavailable, "oauth discovery: %w", urlErr(err))
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
		resp.Body.Close()
		switch {
		case err != nil:
			return u, providers.Errorf(providers.ErrUnavailable, "oauth discovery: %s: %w", u, err)
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			continue
		case resp.StatusCode != http.StatusOK:
			return u, providers.Errorf(providers.ErrUnavailable, "oauth discovery: %s: %s", u, resp.Status)
		case len(b) > maxMetadata:
			return u, providers.Errorf(providers.ErrConfig, "oauth discovery: %s: the document is larger than %d bytes", u, maxMetadata)
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
			return u, providers.Errorf(providers.ErrConfig, "oauth discovery: %s: %q, not JSON", u, mt)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return u, providers.Errorf(providers.ErrConfig, "oauth discovery: %s: %w", u, err)
		}
		return u, nil
	}
	return "", errNoMetadata
}

// covers reports whether the resource metadata's resource is the server at
// u: the same origin, and a path that is u's or a parent of it.
func covers(res string, u *url.URL) bool {
	r, err := url.Parse(res)
	if err != nil || !strings.EqualFold(r.Scheme, u.Scheme) || !strings.EqualFold(r.Host, u.Host) {
		return false
	}
	rp := strings.TrimSuffix(r.Path, "/")
	return rp == "" || u.Path == rp || strings.HasPrefix(u.Path, rp+"/") || strings.TrimSuffix(u.Path, "/") == rp
}

// checkTokenURL refuses a token endpoint that would take the client secret
// in the clear: https only, but for a loopback host.
func checkTokenURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s: the client secret would go there unencrypted; https only (http on a loopback host)", s)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// urlErr is a client error without the request's URL, which may hold a
// secret: the method and the cause.
func urlErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// bearerParams reads the auth-params of the Bearer challenge in
// WWW-Authenticate headers (RFC 9110 §11.6.1, RFC 6750 §3), names in lower
// case; nil if there is none.
func bearerParams(headers []string) map[string]string {
	for _, h := range headers {
		p := authParser{s: h}
		for {
			p.skip(" \t,")
			scheme := p.token()
			if scheme == "" {
				break
			}
			params := map[string]string{}
			for {
				p.skip(" \t")
				start := p.i
				name := p.token()
				p.skip(" \t")
				if name == "" || !p.take('=') {
					p.i = start // the next challenge's scheme
					break
				}
				p.skip(" \t")
				if p.i == len(p.s) || p.s[p.i] == '=' || p.s[p.i] == ',' {
					p.skipUntil(',') // a token68 ("abc=="), not a parameter
					break
				}
				params[strings.ToLower(name)] = p.value()
				p.skip(" \t")
				if !p.take(',') {
					break
				}
			}
			if strings.EqualFold(scheme, "bearer") {
				return params
			}
		}
	}
	return nil
}

type authParser struct {
	s string
	i int
}

func (p *authParser) skip(set string) {
	for p.i < len(p.s) && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *authParser) skipUntil(c byte) {
	for p.i < len(p.s) && p.s[p.i] != c {
		p.i++
	}
}

func (p *authParser) take(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *authParser) token() string {
	start := p.i
	for p.i < len(p.s) && validName(p.s[p.i:p.i+1]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value is a token or a quoted-string, unquoted.
func (p *authParser) value() string {
	if !p.take('"') {
		return p.token()
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String()
		case c == '\\' && p.i < len(p.s):
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
