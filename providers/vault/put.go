package vault

import (
	"context"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Put stores values as the KV secret name (MOUNT/PATH, as the vault CLI
// names it), for mcp-secrets wrap: a new version on a KV v2 mount, the
// whole secret on KV v1. The mount and its version are found as Fetch
// finds them.
func (p *Provider) Put(ctx context.Context, name string, values map[string]string) error {
	path := strings.Trim(name, "/")
	c, err := p.use(ctx)
	if err != nil {
		return err
	}
	m, err := p.mountOf(ctx, c, path)
	if err != nil {
		return err
	}
	data := make(map[string]any, len(values))
	for k, v := range values {
		data[k] = v
	}
	what := "write " + path
	switch m.kv {
	case 2:
		var dataPath string
		if dataPath, _, err = m.kv2Paths(path); err != nil {
			return err
		}
		what = "write " + dataPath
		_, err = c.Logical().WriteWithContext(ctx, dataPath, map[string]any{"data": data})
	case 1:
		_, err = c.Logical().WriteWithContext(ctx, path, data)
	default:
		return providers.Errorf(providers.ErrConfig, "%s is not on a KV secrets engine (or this token may not ask Vault which mount it is on)", path)
	}
	if err != nil {
		return failure(what, err, c.Token())
	}
	return nil
}
