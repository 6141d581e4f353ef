// Package azure resolves $<azure:...> references from Azure Key Vault, with
// the azsecrets client and azidentity's DefaultAzureCredential (service
// principal or user in the environment, workload identity, managed identity,
// Azure CLI, ...), so it authenticates the way Azure users already set up.
//
// References name a secret as VAULT/NAME, or by its URL,
// https://VAULT.vault.azure.net/secrets/NAME[/VERSION]; ?version= pins a
// version. Sovereign clouds set AZURE_KEYVAULT_DNS_SUFFIX (vault.azure.cn,
// vault.usgovcloudapi.net) for the VAULT/NAME form.
package azure

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Options configure a Provider.
type Options struct {
	// Getenv reads the launcher's environment; nil means os.Getenv.
	// DefaultAzureCredential reads the process environment itself.
	Getenv func(string) string
	// Log receives the provider's notes; nil means none. It never sees a value.
	Log *slog.Logger
	// Credential replaces DefaultAzureCredential and Transport the SDK's
	// HTTP client, for tests against a local vault (providers/azure/azuretest).
	Credential azcore.TokenCredential
	Transport  policy.Transporter
}

// Provider fetches secrets from Azure Key Vault. New is cheap: the credential
// and each vault's client are made on first use.
type Provider struct {
	opts   Options
	suffix string // DNS suffix of VAULT/NAME references

	mu     sync.Mutex
	cred   azcore.TokenCredential // nil until first use
	vaults map[string]*vault      // by host
}

var (
	_ providers.Configurer    = (*Provider)(nil)
	_ providers.VersionLister = (*Provider)(nil)
	_ providers.Writer        = (*Provider)(nil)
)

// New returns a provider. It makes no network call and builds no credential.
func New(o Options) *Provider {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	suffix := strings.ToLower(strings.TrimPrefix(o.Getenv("AZURE_KEYVAULT_DNS_SUFFIX"), "."))
	return &Provider{opts: o, suffix: cmp.Or(suffix, defaultSuffix), vaults: map[string]*vault{}}
}

// Fetch gets the secret the reference names, its current version unless one
// is given. Secret.Version is the version id.
func (p *Provider) Fetch(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	loc, err := p.locate(ref)
	if err != nil {
		return providers.Secret{}, err
	}
	v, err := p.vault(loc.host)
	if err != nil {
		return providers.Secret{}, err
	}
	r, at, err := v.get(ctx, loc.name, loc.version)
	if err != nil {
		return providers.Secret{}, err
	}
	if loc.version == "" {
		v.saw(loc.name, r.Attributes, r.ID.Version(), at)
	}
	return providers.NewSecret(*r.Value, r.ID.Version()), nil
}

// Configured reports whether DefaultAzureCredential has something to use on
// this machine, without a network call. The rule: a service principal or
// user in the environment (AZURE_TENANT_ID and AZURE_CLIENT_ID with
// AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_USERNAME),
// workload identity (AZURE_FEDERATED_TOKEN_FILE), a managed identity that
// announces itself (IDENTITY_ENDPOINT: App Service, Functions, Arc;
// MSI_ENDPOINT: Cloud Shell), an explicit AZURE_TOKEN_CREDENTIALS, or an
// Azure CLI login (azureProfile.json with a subscription, in AZURE_CONFIG_DIR
// or ~/.azure). A VM or AKS node identity (IMDS) leaves no trace: set
// AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential (or prod) there.
func (p *Provider) Configured() bool {
	env := func(name string) bool { return p.opts.Getenv(name) != "" }
	switch {
	case env("AZURE_TENANT_ID") && env("AZURE_CLIENT_ID") &&
		(env("AZURE_CLIENT_SECRET") || env("AZURE_CLIENT_CERTIFICATE_PATH") || env("AZURE_USERNAME")),
		env("AZURE_FEDERATED_TOKEN_FILE"),
		env("IDENTITY_ENDPOINT"), env("MSI_ENDPOINT"),
		env("AZURE_TOKEN_CREDENTIALS"):
		return true
	}
	dir := p.opts.Getenv("AZURE_CONFIG_DIR")
	if dir == "" {
		home := cmp.Or(p.opts.Getenv("HOME"), p.opts.Getenv("USERPROFILE"))
		if home == "" {
			return false
		}
		dir = filepath.Join(home, ".azure")
	}
	return cliLoggedIn(filepath.Join(dir, "azureProfile.json"))
}

// cliLoggedIn reports whether the Azure CLI profile lists a subscription;
// az logout leaves the file with none.
func cliLoggedIn(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var profile struct {
		Subscriptions []json.RawMessage `json:"subscriptions"`
	}
	b = []byte(strings.TrimPrefix(string(b), "\uFEFF")) // the CLI writes a BOM
	return json.Unmarshal(b, &profile) == nil && len(profile.Subscriptions) > 0
}

// vault is one vault's client, and what polls learnt about its secrets.
type vault struct {
	host   string
	client *azsecrets.Client
	log    *slog.Logger

	// The client learns the vault's tenant from a 401 challenge to its first
	// request; requests sent before that each get their own challenge (and,
	// on a fresh connection pool, their own TLS handshake). So the first
	// request goes alone and the others wait for it: see do.
	started atomic.Bool
	primed  chan struct{}

	listDenied atomic.Bool // the vault refuses to list secrets: poll each one

	mu   sync.Mutex
	seen map[string]seen // by lower-case secret name
}

// vault returns the vault's client, making it (and the credential) on first use.
func (p *Provider) vault(host string) (*vault, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.vaults[host]; v != nil {
		return v, nil
	}
	if p.cred == nil {
		cred := p.opts.Credential
		if cred == nil {
			var err error
			cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
				ClientOptions: azcore.ClientOptions{Transport: p.opts.Transport},
			})
			if err != nil {
				return nil, providers.Errorf(providers.ErrConfig, "credential: %s", oneLine(err.Error()))
			}
		}
		p.cred = credential{cred}
	}
	c, err := azsecrets.NewClient("https://"+host, p.cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: p.opts.Transport,
			// Throttling (429), 5xx and connection failures are retried for
			// about 2 s in all, well inside a fetch's timeout; a Retry-After
			// longer than MaxRetryDelay ends the retries at once.
			Retry: policy.RetryOptions{MaxRetries: 3, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 5 * time.Second, ShouldRetry: transient},
		},
	})
	if err != nil {
		return nil, providers.Errorf(providers.ErrConfig, "vault %s: %s", host, oneLine(err.Error()))
	}
	v := &vault{host: host, client: c, log: p.opts.Log, primed: make(chan struct{}), seen: map[string]seen{}}
	p.vaults[host] = v
	return v, nil
}

// transient says which failures are worth another try: the service's
// throttling and server errors, and connection failures other than a vault
// name that does not resolve, which will not come to exist in a second.
func transient(resp *http.Response, err error) bool {
	if err != nil {
		var dns *net.DNSError
		return !errors.As(err, &dns) || !dns.IsNotFound
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// do runs one request to the vault; before the vault's first request has
// returned, it waits for it.
func (v *vault) do(ctx context.Context, call func(context.Context) error) error {
	if v.started.CompareAndSwap(false, true) {
		defer close(v.primed)
	} else {
		select {
		case <-v.primed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return call(ctx)
}

// get reads a secret, with the time the vault answered (its Date header).
func (v *vault) get(ctx context.Context, name, version string) (azsecrets.GetSecretResponse, time.Time, error) {
	var r azsecrets.GetSecretResponse
	var resp *http.Response
	err := v.do(ctx, func(ctx context.Context) error {
		var err error
		r, err = v.client.GetSecret(policy.WithCaptureResponse(ctx, &resp), name, version, nil)
		return err
	})
	switch {
	case err != nil:
		return r, time.Time{}, describe(v.host, err)
	case r.Value == nil || r.ID == nil:
		return r, time.Time{}, fmt.Errorf("%w: %s answered without a value or id", providers.ErrUnavailable, v.host)
	}
	at, _ := http.ParseTime(resp.Header.Get("Date")) // zero if missing: never settled
	return r, at, nil
}

// credential marks its errors, so a failure to get a token reads as the
// credential's, not the vault's.
type credential struct{ azcore.TokenCredential }

func (c credential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, o)
	if err != nil {
		return tok, credentialError{err}
	}
	return tok, nil
}

type credentialError struct{ err error }

func (e credentialError) Error() string { return e.err.Error() }
func (e credentialError) Unwrap() error { return e.err }
