package rotation

import (
	"context"
	"sync"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Cache keeps what remote stores answered between resolutions, so a
// resolution after a hint fetches only the secrets that changed: a .env
// edit costs no API call. Values stay in memory only.
type Cache struct {
	mu sync.Mutex
	m  map[providers.Key]providers.Secret
}

// Wrap returns ps with every remote store (a providers.Configurer: local
// providers read files and are cheap) reading through the cache.
func (c *Cache) Wrap(ps map[string]providers.Provider) map[string]providers.Provider {
	out := make(map[string]providers.Provider, len(ps))
	for name, p := range ps {
		if conf, ok := p.(providers.Configurer); ok {
			p = cached{p, conf, c}
		}
		out[name] = p
	}
	return out
}

// Forget drops keys, so the next resolution fetches them again.
func (c *Cache) Forget(keys ...providers.Key) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.m, k)
	}
}

func (c *Cache) get(k providers.Key) (providers.Secret, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s, ok
}

func (c *Cache) put(k providers.Key, s providers.Secret) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[providers.Key]providers.Secret{}
	}
	c.m[k] = s
}

// cached is a remote provider reading through a Cache. It keeps Configured,
// which the fallback rules look for.
type cached struct {
	p    providers.Provider
	conf providers.Configurer
	c    *Cache
}

var _ providers.Configurer = cached{}

func (p cached) Configured() bool { return p.conf.Configured() }

func (p cached) Fetch(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	k := ref.Key()
	if s, ok := p.c.get(k); ok {
		return s, nil
	}
	s, err := p.p.Fetch(ctx, ref)
	if err == nil {
		p.c.put(k, s)
	}
	return s, err
}
