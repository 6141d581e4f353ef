package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// defaultK8sTokenFile is where Kubernetes mounts a pod's service account token.
const defaultK8sTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// authMethod is a login configured in the environment.
type authMethod struct {
	name, mount string
	// body is the login request, built at each login (token files rotate),
	// with the credentials in it.
	body   func() (body map[string]any, secrets []string, err error)
	client *api.Client // without a token: a stale one must not ride along
}

// credentials returns the token or the login method the environment
// configures; neither means requests go without a token.
func (p *Provider) credentials() (string, *authMethod) {
	env := p.getenv
	if t := env("VAULT_TOKEN"); t != "" {
		return t, nil
	}
	if roleID := env("VAULT_ROLE_ID"); roleID != "" {
		secretID := env("VAULT_SECRET_ID")
		return "", &authMethod{name: "approle", mount: cmp.Or(env("VAULT_APPROLE_MOUNT"), "approle"),
			body: func() (map[string]any, []string, error) {
				b := map[string]any{"role_id": roleID}
				if secretID != "" {
					b["secret_id"] = secretID
				}
				return b, []string{secretID}, nil
			}}
	}
	if jwt, file := env("VAULT_JWT"), env("VAULT_JWT_FILE"); jwt != "" || file != "" {
		return "", &authMethod{name: "jwt", mount: cmp.Or(env("VAULT_JWT_MOUNT"), "jwt"),
			body: jwtBody(jwt, "VAULT_JWT_FILE", file, env("VAULT_JWT_ROLE"))}
	}
	if role := env("VAULT_K8S_ROLE"); role != "" {
		return "", &authMethod{name: "kubernetes", mount: cmp.Or(env("VAULT_K8S_MOUNT"), "kubernetes"),
			body: jwtBody("", "VAULT_K8S_TOKEN_FILE", cmp.Or(env("VAULT_K8S_TOKEN_FILE"), defaultK8sTokenFile), role)}
	}
	if home := env("HOME"); home != "" {
		b, err := os.ReadFile(filepath.Join(home, ".vault-token"))
		switch {
		case err == nil:
			return strings.TrimSpace(string(b)), nil
		case !errors.Is(err, fs.ErrNotExist):
			p.log.Warn("cannot read the vault CLI's token", "err", err)
		}
	}
	return "", nil
}

// jwtBody is the login of the JWT and Kubernetes methods: a JWT given
// inline, else read from file (named by the variable fileVar), and a role.
func jwtBody(jwt, fileVar, file, role string) func() (map[string]any, []string, error) {
	return func() (map[string]any, []string, error) {
		token := jwt
		if token == "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, nil, providers.Errorf(providers.ErrConfig, "%s: %v", fileVar, err)
			}
			token = strings.TrimSpace(string(b))
		}
		body := map[string]any{"jwt": token}
		if role != "" {
			body["role"] = role
		}
		return body, []string{token}, nil
	}
}

// token is what the provider knows of its token's life.
type token struct {
	ttl       time.Duration // the lifetime left; 0: it never expires, or nothing is known
	renewable bool
}

// login logs in with a and sets the token it gets on c.
func (p *Provider) login(ctx context.Context, c *api.Client, a *authMethod) (token, error) {
	what := "login with " + a.name + " at auth/" + a.mount
	body, secrets, err := a.body()
	if err != nil {
		return token{}, err
	}
	s, err := a.client.Logical().WriteWithContext(ctx, "auth/"+a.mount+"/login", body)
	if err != nil {
		f := classify(err)
		kind := f.kind
		if f.status == http.StatusBadRequest {
			kind = providers.ErrDenied // "invalid role or secret ID", "missing role"
		}
		return token{}, f.as(kind, what, secrets)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return token{}, fmt.Errorf("%w: %s: Vault answered without a token", providers.ErrDenied, what)
	}
	c.SetToken(s.Auth.ClientToken)
	t := token{ttl: lifetime(s.Auth.LeaseDuration), renewable: s.Auth.Renewable}
	p.log.Debug("logged in", "method", a.name, "mount", a.mount, "ttl", seconds(s.Auth.LeaseDuration), "renewable", t.renewable)
	return t, nil
}

// errLastTerm ends the upkeep of a token that can be extended no further.
var errLastTerm = errors.New("the token can be extended no further")

// callTimeout bounds each request of the upkeep, which no caller bounds.
const callTimeout = 10 * time.Second

// upkeep keeps the token alive until ctx ends. It renews the token at 2/3
// of its TTL; a token from a login is replaced by a new login once renewal
// no longer extends it (it reached its max TTL, or was revoked). Failures
// are retried with backoff: the token may outlive an outage of Vault.
func (p *Provider) upkeep(ctx context.Context, done chan<- struct{}, c *api.Client, a *authMethod, t token) {
	defer close(done)
	if a == nil && c.Token() != "" {
		t = p.lookupSelf(ctx, c)
	}
	wait, backoff := t.ttl*2/3, time.Second
	for t.ttl > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		next, err := p.refresh(ctx, c, a, t)
		switch {
		case err == nil:
			t, wait, backoff = next, next.ttl*2/3, time.Second
		case ctx.Err() != nil:
			return
		case a == nil && (errors.Is(err, errLastTerm) || errors.Is(err, providers.ErrDenied)):
			p.log.Warn("the Vault token will not be renewed again: set a login method (AppRole, JWT, Kubernetes) for long runs", "err", err)
			return
		default:
			p.log.Warn("could not renew the Vault token; retrying", "err", err, "in", backoff)
			wait, backoff = backoff, min(2*backoff, time.Minute)
		}
	}
}

// refresh renews the token, or logs in again when renewing does not
// extend it beyond half its last TTL.
func (p *Provider) refresh(ctx context.Context, c *api.Client, a *authMethod, t token) (token, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if t.renewable {
		s, err := c.Auth().Token().RenewSelfWithContext(ctx, 0) // 0: the token's own TTL
		switch {
		case err == nil && s != nil && s.Auth != nil && lifetime(s.Auth.LeaseDuration) > t.ttl/2:
			p.log.Debug("token renewed", "ttl", seconds(s.Auth.LeaseDuration))
			return token{ttl: lifetime(s.Auth.LeaseDuration), renewable: s.Auth.Renewable}, nil
		case err != nil && a == nil:
			return token{}, failure("token renewal", err, c.Token())
		case err != nil:
			p.log.Debug("token renewal failed; logging in again", "err", failure("token renewal", err, c.Token()))
		}
	}
	if a == nil {
		return token{}, fmt.Errorf("%w: it expires in %v", errLastTerm, t.ttl/3)
	}
	return p.login(ctx, c, a)
}

// lookupSelf learns the life of a token given by the environment. Without
// it (the token may not look itself up) the token is simply not renewed.
func (p *Provider) lookupSelf(ctx context.Context, c *api.Client) token {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	s, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		p.log.Debug("token lookup failed; it will not be renewed", "err", failure("token lookup", err, c.Token()))
		return token{}
	}
	if s == nil {
		return token{}
	}
	ttl, _ := s.TokenTTL()
	renewable, _ := s.TokenIsRenewable()
	return token{ttl: lifetime(int(ttl / time.Second)), renewable: renewable}
}

// lifetime is how long a token Vault grants n seconds can be counted on:
// a second less (Vault counts whole seconds, so a token may expire up to a
// second early), and 0 for a token that never expires.
func lifetime(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return max(seconds(n)-time.Second, seconds(n)/2)
}
