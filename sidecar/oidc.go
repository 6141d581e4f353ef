package sidecar

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// OIDC makes the MCP endpoints an OAuth 2.1 resource server (the MCP
// authorization spec): a request needs a JWT signed by a key of the
// issuer's JWKS, with the issuer's iss, the audience in aud, unexpired.
// go-oidc checks the claims and go-jose the signatures; a valid token is
// remembered until it expires, so only a client's first request with it
// pays for the check.
type OIDC struct {
	Issuer, Audience string
	verifier         *oidc.IDTokenVerifier

	mu    sync.Mutex
	valid map[[32]byte]validToken // by the token's digest: the token itself is never kept
}

type validToken struct {
	sub string
	exp time.Time
}

// Asymmetric algorithms only: an HS256 token "signed" with the issuer's
// public key, or alg none, is refused before any key is tried.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

const (
	// clockSkew is how long after exp a token is still taken: the
	// issuer's clock and ours may differ a little.
	clockSkew = 30 * time.Second
	// keyRefresh is the least time between two fetches of the JWKS for a
	// token signed with a key not in it: a client that sends made-up key
	// ids must not make the sidecar hammer the issuer.
	keyRefresh = 10 * time.Second
	// maxValidTokens bounds the tokens remembered.
	maxValidTokens = 4096
	// maxDiscovery bounds the discovery document and the JWKS.
	maxDiscovery = 1 << 20
)

// CheckIssuer checks an --oidc-issuer URL: https, or http on a loopback
// address only (a token fetched over plain HTTP from elsewhere could be
// anyone's).
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case err != nil:
		return fmt.Errorf("--oidc-issuer %q: %w", issuer, err)
	case u.Host == "":
		return fmt.Errorf("--oidc-issuer %q: not an absolute URL", issuer)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("--oidc-issuer %q: must be https (http only on a loopback address)", issuer)
}

// NewOIDC discovers the issuer (its OpenID configuration, then its keys)
// through client.
func NewOIDC(ctx context.Context, issuer, audience string, client *http.Client) (*OIDC, error) {
	if err := CheckIssuer(issuer); err != nil {
		return nil, err
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		return nil, fmt.Errorf("--oidc-issuer %s: discovery: %w", issuer, err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, fmt.Errorf("--oidc-issuer %s: discovery: no jwks_uri", issuer)
	}
	keys := &keySet{url: meta.JWKS, client: client}
	if err := keys.fetch(ctx); err != nil {
		return nil, fmt.Errorf("--oidc-issuer %s: %w", issuer, err)
	}
	algs := make([]string, len(signingAlgs))
	for i, a := range signingAlgs {
		algs[i] = string(a)
	}
	return &OIDC{
		Issuer:   issuer,
		Audience: audience,
		verifier: oidc.NewVerifier(issuer, keys, &oidc.Config{
			ClientID:             audience,
			SupportedSigningAlgs: algs,
			Now:                  func() time.Time { return time.Now().Add(-clockSkew) },
		}),
		valid: map[[32]byte]validToken{},
	}, nil
}

// Verify checks a bearer token and returns its sub claim.
func (o *OIDC) Verify(ctx context.Context, token string) (string, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	o.mu.Lock()
	v, ok := o.valid[key]
	o.mu.Unlock()
	if ok && now.Before(v.exp) {
		return v.sub, nil
	}
	t, err := o.verifier.Verify(ctx, token)
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.valid) >= maxValidTokens {
		for k, v := range o.valid {
			if !now.Before(v.exp) {
				delete(o.valid, k)
			}
		}
		if len(o.valid) >= maxValidTokens {
			clear(o.valid)
		}
	}
	o.valid[key] = validToken{sub: t.Subject, exp: t.Expiry.Add(clockSkew)}
	return t.Subject, nil
}

// keySet is the issuer's JWKS, fetched again when a token names a key it
// does not hold, at most once per keyRefresh (go-oidc's RemoteKeySet would
// fetch it for every such token).
type keySet struct {
	url     string
	client  *http.Client
	fetchMu sync.Mutex // one fetch at a time
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time
}

// VerifySignature is oidc.KeySet's: the payload of a token signed by one
// of the keys.
func (k *keySet) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSigned(token, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("a token must have exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	if payload, ok := k.verify(jws, kid); ok {
		return payload, nil
	}
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	if payload, ok := k.verify(jws, kid); ok {
		return payload, nil
	}
	return nil, errors.New("no key of the issuer verifies the token's signature")
}

func (k *keySet) verify(jws *jose.JSONWebSignature, kid string) ([]byte, bool) {
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(&key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// refresh fetches the keys again unless they were fetched within
// keyRefresh.
func (k *keySet) refresh(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	k.mu.Lock()
	recent := time.Since(k.fetched) < keyRefresh
	k.mu.Unlock()
	if recent {
		return nil
	}
	return k.fetch(ctx)
}

func (k *keySet) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return fmt.Errorf("jwks_uri %s: %w", k.url, err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the keys: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscovery))
	if err != nil {
		return fmt.Errorf("fetching the keys from %s: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the keys from %s: %s", k.url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("the keys at %s: %w", k.url, err)
	}
	var public []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.Valid() && key.IsPublic() && key.Use != "enc" {
			public = append(public, key)
		}
	}
	k.mu.Lock()
	k.keys, k.fetched = public, time.Now()
	k.mu.Unlock()
	return nil
}

// resourceMetadata is the RFC 9728 protected-resource metadata of a
// server's endpoint: what a client needs to find where to get a token.
func (o *OIDC) resourceMetadata(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		json.NewEncoder(w).Encode(map[string]any{
			"resource":                 resourceURL(r, name),
			"authorization_servers":    []string{o.Issuer},
			"bearer_methods_supported": []string{"header"},
		})
	})
}

// resourceURL is the URL of a server's endpoint, as the client reached it
// (through a proxy that terminates TLS, X-Forwarded-Proto says https).
func resourceURL(r *http.Request, name string) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/" + name + "/mcp"
}

// metadataURL is where the resource metadata of a server's endpoint is.
func metadataURL(r *http.Request, name string) string {
	u := resourceURL(r, name)
	i := len(u) - len("/"+name+"/mcp")
	return u[:i] + "/.well-known/oauth-protected-resource/" + name + "/mcp"
}

// validSub reports whether a sub may go into a reference path: letters,
// digits, '.', '_', '@', '-', and no "..".
func validSub(sub string) bool {
	if sub == "" || sub == "." || len(sub) > 256 {
		return false
	}
	for i := 0; i < len(sub); i++ {
		c := sub[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-'
		if !ok || c == '.' && i > 0 && sub[i-1] == '.' {
			return false
		}
	}
	return true
}
