package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// mount is the secrets engine a path is on.
type mount struct {
	path string // "secret/"; "" when Vault would not say
	kv   int    // 1 or 2 for a KV engine, 0 for any other engine
}

// mountOf finds the mount of path as the vault CLI does, asking Vault once
// per mount for the life of the provider.
func (p *Provider) mountOf(ctx context.Context, c *api.Client, path string) (mount, error) {
	p.mountMu.Lock()
	defer p.mountMu.Unlock()
	for mp, m := range p.mounts {
		if strings.HasPrefix(path+"/", mp) {
			return m, nil
		}
	}
	what := "mount lookup for " + path
	resp, err := c.Logical().ReadRawWithContext(ctx, "sys/internal/ui/mounts/"+path)
	if resp != nil {
		defer resp.Body.Close()
	}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re) && (re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusNotFound):
		// Vault answers 403 both for a path on no mount and for a token
		// that may not use the mount (404: a Vault too old to say). Like
		// the CLI, read the path as it is: the read tells which.
		return mount{}, nil
	case err != nil:
		return mount{}, failure(what, err, c.Token())
	}
	s, err := api.ParseSecret(resp.Body)
	if err != nil || s == nil {
		return mount{}, fmt.Errorf("%w: %s: the answer is not Vault's JSON", providers.ErrUnavailable, what)
	}
	m := mount{}
	m.path, _ = s.Data["path"].(string)
	if !strings.HasSuffix(m.path, "/") || !strings.HasPrefix(path+"/", m.path) {
		return mount{}, nil // not a form this provider knows: read as is
	}
	switch typ, _ := s.Data["type"].(string); typ {
	case "kv", "generic":
		m.kv = 1
		if opts, _ := s.Data["options"].(map[string]any); opts["version"] == "2" {
			m.kv = 2
		}
	}
	p.mounts[m.path] = m
	return m, nil
}

// kv2Paths are the data and metadata API paths of a secret on a KV v2
// mount, from its CLI form (secret/app) or its API form (secret/data/app).
func (m mount) kv2Paths(path string) (data, metadata string, err error) {
	name := strings.TrimPrefix(path+"/", m.path)
	name = strings.TrimSuffix(strings.TrimPrefix(name, "data/"), "/")
	if name == "" {
		return "", "", providers.Errorf(providers.ErrConfig, "%s names the KV v2 mount %s, not a secret on it", path, m.path)
	}
	return m.path + "data/" + name, m.path + "metadata/" + name, nil
}
