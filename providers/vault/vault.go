// Package vault is the HashiCorp Vault provider: $<vault:PATH[?version=N][#field]>.
//
// PATH is a Vault API path. On a KV v2 mount both the vault CLI's form
// (secret/app) and the API's (secret/data/app) name the same secret; the
// mount and its KV version are found as the vault CLI finds them
// (sys/internal/ui/mounts), once per mount for the life of the process. A
// secret whose name itself starts with "data/" must be written API style
// (secret/data/data/x). ?version=N pins a KV v2 version. Any other path
// (KV v1, database/creds/ROLE, aws/creds/ROLE...) is read as it is, once per
// reference key, so #username and #password come from one lease.
//
// Configuration comes from the launcher's environment, with the vault CLI's
// names where it has one (* marks credentials, which the child never sees):
//
//	VAULT_ADDR              server address; the provider counts as configured
//	                        (for --fallback auto) only when it is set, else the
//	                        CLI's default https://127.0.0.1:8200 is used
//	VAULT_NAMESPACE         namespace (Vault Enterprise, HCP Vault)
//	VAULT_CACERT            PEM file of CA certificates to verify the server
//	VAULT_CAPATH            directory of such files
//	VAULT_CLIENT_CERT       client certificate file (TLS client auth)
//	VAULT_CLIENT_KEY        its private key file
//	VAULT_SKIP_VERIFY       true: do not verify the server's certificate
//	VAULT_TLS_SERVER_NAME   server name to verify instead of the address's
//
// Authentication, the first that is set wins:
//
//	VAULT_TOKEN *           a token
//	VAULT_ROLE_ID *         AppRole login, with VAULT_SECRET_ID * (unless the
//	                        role needs none) at mount VAULT_APPROLE_MOUNT
//	                        (default approle)
//	VAULT_JWT *             JWT login with this token, or with the content of
//	VAULT_JWT_FILE *        this file (read at each login), role VAULT_JWT_ROLE
//	                        (default: the mount's default role), mount
//	                        VAULT_JWT_MOUNT (default jwt)
//	VAULT_K8S_ROLE          Kubernetes login as this role, with the service
//	                        account token in VAULT_K8S_TOKEN_FILE * (default
//	                        /var/run/secrets/kubernetes.io/serviceaccount/token),
//	                        mount VAULT_K8S_MOUNT (default kubernetes)
//	$HOME/.vault-token      the token the vault CLI stored at `vault login`
//
// With none of them, requests go without a token (a Vault Agent or Proxy
// with auto-auth at VAULT_ADDR supplies its own). A token is renewed at
// 2/3 of its TTL while the provider is open; a token from a login is
// replaced by a new login once renewal no longer extends it. Nothing is
// written to disk: ~/.vault-token is only read.
//
// The vault/api client also reads a few variables of the process
// environment itself (VAULT_HEADERS, and it refuses to start on a malformed
// VAULT_* setting); for the launcher that is the same environment.
package vault

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Options configure a Provider.
type Options struct {
	// Getenv reads the launcher's environment; nil means os.Getenv.
	Getenv func(string) string
	// Log receives the provider's own events (logins, renewals), never a
	// value or a credential; nil discards them.
	Log *slog.Logger
}

// Provider fetches secrets from Vault. It builds its client and logs in on
// first use. Close stops the renewal of its token.
type Provider struct {
	getenv    func(string) string
	log       *slog.Logger
	digestKey []byte // keys KV v1 digests: a digest of a weak value must not reveal it

	start singleflight.Group // one client setup and login at a time

	mu     sync.Mutex
	client *api.Client
	closed bool
	stop   context.CancelFunc // ends the token's upkeep
	done   chan struct{}      // closed when the upkeep has ended

	mountMu sync.Mutex
	mounts  map[string]mount // by mount path ("secret/"): mounts do not nest
}

var (
	_ providers.Configurer    = (*Provider)(nil)
	_ providers.VersionLister = (*Provider)(nil)
	_ providers.Renewer       = (*Provider)(nil)
	_ providers.Writer        = (*Provider)(nil)
	_ io.Closer               = (*Provider)(nil)
)

// New returns a provider. It makes no network call: the client is built,
// and the login made, on first use.
func New(o Options) *Provider {
	p := &Provider{
		getenv:    o.Getenv,
		log:       o.Log,
		digestKey: make([]byte, 32),
		mounts:    map[string]mount{},
	}
	if p.getenv == nil {
		p.getenv = os.Getenv
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("provider", "vault")
	rand.Read(p.digestKey) // never fails (crypto/rand panics instead)
	return p
}

// Configured reports whether VAULT_ADDR is set: without it the vault CLI
// would talk to a local default address, which is no configuration.
func (p *Provider) Configured() bool { return p.getenv("VAULT_ADDR") != "" }

// Close stops renewing the token and waits for that to end. Logins are not
// revoked: leases the child uses (database credentials) die with the token
// that created them. Close implements io.Closer and always returns nil.
func (p *Provider) Close() error {
	p.mu.Lock()
	p.closed = true
	stop, done := p.stop, p.done
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return nil
}

// Fetch reads the secret ref names (its Field is ignored: the resolver
// applies it to the JSON object of the secret's data).
func (p *Provider) Fetch(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	path := strings.Trim(ref.Path, "/")
	if ref.Stage != "" {
		return providers.Secret{}, providers.Errorf(providers.ErrConfig, "?stage= is an AWS staging label; Vault has none")
	}
	c, err := p.use(ctx)
	if err != nil {
		return providers.Secret{}, err
	}
	m, err := p.mountOf(ctx, c, path)
	if err != nil {
		return providers.Secret{}, err
	}
	if m.kv == 2 {
		return p.fetchKV2(ctx, c, m, path, ref.Version)
	}
	if ref.Version != "" {
		return providers.Secret{}, providers.Errorf(providers.ErrConfig, "?version= needs a KV v2 mount; %s is not on one", path)
	}
	s, err := p.read(ctx, c, "read "+path, path, nil)
	if err != nil {
		return providers.Secret{}, err
	}
	secret, err := structured(s.Data, "", "read "+path)
	if err != nil {
		return providers.Secret{}, err
	}
	if s.LeaseID != "" {
		secret.Version = s.LeaseID
		secret.Lease = providers.Lease{ID: s.LeaseID, TTL: seconds(s.LeaseDuration), Renewable: s.Renewable}
	}
	return secret, nil
}

// fetchKV2 reads the current (or a pinned) version of a KV v2 secret.
func (p *Provider) fetchKV2(ctx context.Context, c *api.Client, m mount, path, version string) (providers.Secret, error) {
	data, _, err := m.kv2Paths(path)
	if err != nil {
		return providers.Secret{}, err
	}
	what := "read " + data
	var params map[string][]string
	if version != "" {
		if n, err := strconv.Atoi(version); err != nil || n < 1 {
			return providers.Secret{}, providers.Errorf(providers.ErrConfig, "?version=%s: a KV v2 version is a number from 1", version)
		}
		params = map[string][]string{"version": {version}}
		what += " version " + version
	}
	s, err := p.read(ctx, c, what, data, params)
	if err != nil {
		return providers.Secret{}, err
	}
	kv, _ := s.Data["data"].(map[string]any)
	meta, _ := s.Data["metadata"].(map[string]any)
	if kv == nil {
		// A deleted or destroyed version: its metadata remains, its data not.
		return providers.Secret{}, fmt.Errorf("%w: %s: deleted", providers.ErrNotFound, what)
	}
	return structured(kv, number(meta["version"]), what)
}

// number is a version number of Vault's JSON as a string, "" if absent.
func number(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// structured is a secret holding data as a JSON object.
func structured(data map[string]any, version, what string) (providers.Secret, error) {
	if data == nil {
		return providers.Secret{}, fmt.Errorf("%w: %s: no data", providers.ErrNotFound, what)
	}
	b, err := json.Marshal(data)
	if err != nil {
		// Data decoded from JSON always encodes; say nothing of it anyway.
		return providers.Secret{}, fmt.Errorf("%w: %s: data cannot be encoded", providers.ErrUnavailable, what)
	}
	s := providers.NewSecret(string(b), version)
	s.Structured = true
	return s, nil
}

// read GETs an API path and parses Vault's answer.
func (p *Provider) read(ctx context.Context, c *api.Client, what, path string, params map[string][]string) (*api.Secret, error) {
	resp, err := c.Logical().ReadRawWithDataWithContext(ctx, path, params)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			// KV v2 answers a deleted version with its metadata, without data.
			if s, perr := api.ParseSecret(resp.Body); perr == nil && s != nil && len(s.Data) > 0 {
				return s, nil
			}
		}
		err = failure(what, err, c.Token())
		if c.Token() == "" && errors.Is(err, providers.ErrDenied) {
			err = fmt.Errorf("%w (no Vault token: set VAULT_TOKEN, or VAULT_ROLE_ID, VAULT_JWT or VAULT_K8S_ROLE to log in)", err)
		}
		return nil, err
	}
	s, err := api.ParseSecret(resp.Body)
	if err != nil || s == nil {
		// The parser's message may quote the body: never repeat it.
		return nil, fmt.Errorf("%w: %s: the answer is not Vault's JSON", providers.ErrUnavailable, what)
	}
	return s, nil
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// use returns the client, building it and logging in on first use. Callers
// that arrive during a login share its outcome; a failed login is tried
// again by the next call.
func (p *Provider) use(ctx context.Context) (*api.Client, error) {
	p.mu.Lock()
	c, closed := p.client, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("%w: the provider is closed", providers.ErrUnavailable)
	case c != nil:
		return c, nil
	}
	// Do, not DoChan: the login runs in a caller's goroutine, so none is
	// left running after Close.
	v, err, _ := p.start.Do("", func() (any, error) { return p.setup(ctx) })
	if err != nil {
		return nil, err
	}
	return v.(*api.Client), nil
}

// setup builds the client from the environment, logs in if a login method
// is configured, and starts the token's upkeep.
func (p *Provider) setup(ctx context.Context) (*api.Client, error) {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c != nil {
		return c, nil // set up by a call that finished meanwhile
	}
	cfg, err := p.config()
	if err != nil {
		return nil, err
	}
	c, err = p.newClient(cfg)
	if err != nil {
		return nil, err
	}
	var auth *authMethod
	var tok token
	switch t, a := p.credentials(); {
	case a != nil:
		// Logins go through a client of their own, so no stale token rides along.
		lc, err := p.newClient(cfg)
		if err != nil {
			return nil, err
		}
		auth = a
		auth.client = lc
		if tok, err = p.login(ctx, c, auth); err != nil {
			return nil, err
		}
	case t != "":
		c.SetToken(t)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("%w: the provider is closed", providers.ErrUnavailable)
	}
	upkeep, stop := context.WithCancel(context.Background())
	p.stop, p.done = stop, make(chan struct{})
	go p.upkeep(upkeep, p.done, c, auth, tok)
	p.client = c
	return c, nil
}

// config is the client's configuration from the launcher's environment.
func (p *Provider) config() (*api.Config, error) {
	hc := cleanhttp.DefaultPooledClient()
	tr := hc.Transport.(*http.Transport)
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	// Keep a connection per parallel fetch (the resolver runs 16), not
	// GOMAXPROCS+1: each resolution would open the rest anew.
	tr.MaxIdleConnsPerHost = 16
	// As api.DefaultConfig: the client follows Vault's redirects itself.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg := &api.Config{
		Address:    cmp.Or(p.getenv("VAULT_ADDR"), api.DefaultAddress),
		HttpClient: hc,
		// A backstop for callers whose context has no deadline.
		Timeout: 60 * time.Second,
		// Connection errors, 412, 429 and 5xx are retried; other 4xx are
		// answers. Waits are shorter than the api's 1-1.5 s: a launch waits.
		MaxRetries:   2,
		MinRetryWait: 250 * time.Millisecond,
		MaxRetryWait: time.Second,
		Backoff:      retryablehttp.RateLimitLinearJitterBackoff,
		CheckRetry:   api.DefaultRetryPolicy,
	}
	tlsc := &api.TLSConfig{
		CACert:        p.getenv("VAULT_CACERT"),
		CAPath:        p.getenv("VAULT_CAPATH"),
		ClientCert:    p.getenv("VAULT_CLIENT_CERT"),
		ClientKey:     p.getenv("VAULT_CLIENT_KEY"),
		TLSServerName: p.getenv("VAULT_TLS_SERVER_NAME"),
	}
	if v := p.getenv("VAULT_SKIP_VERIFY"); v != "" {
		skip, err := strconv.ParseBool(v)
		if err != nil {
			return nil, providers.Errorf(providers.ErrConfig, "VAULT_SKIP_VERIFY=%q is not true or false", v)
		}
		tlsc.Insecure = skip
	}
	if err := cfg.ConfigureTLS(tlsc); err != nil {
		return nil, providers.Errorf(providers.ErrConfig, "Vault TLS settings: %v", err)
	}
	return cfg, nil
}

// newClient is a client for cfg with no token and the configured namespace.
func (p *Provider) newClient(cfg *api.Config) (*api.Client, error) {
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, providers.Errorf(providers.ErrConfig, "Vault client: %v", err)
	}
	// NewClient takes these from the process environment; the launcher's
	// environment is what counts.
	c.ClearToken()
	c.ClearNamespace()
	if ns := p.getenv("VAULT_NAMESPACE"); ns != "" {
		c.SetNamespace(ns)
	}
	return c, nil
}
