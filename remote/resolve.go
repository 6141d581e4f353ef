package remote

import (
	"context"
	"sync"
	"time"

	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/rotation"
)

// Resolver resolves a remote's configuration into its target, for the
// first request, the watcher and a refused request's second try alike, one
// at a time: the newest resolution is the target, and an update that
// arrives late cannot bring an older one back.
type Resolver struct {
	cfg   Config
	r     *launch.Resolver
	cache *rotation.Cache // nil: none

	mu    sync.Mutex
	cur   *Target
	keys  []providers.Key // what the last resolution fetched
	fresh time.Time       // the last Refresh
}

// NewResolver resolves cfg with r, whose remote stores read through cache.
func NewResolver(cfg Config, r *launch.Resolver, cache *rotation.Cache) *Resolver {
	return &Resolver{cfg: cfg, r: r, cache: cache}
}

// Resolve resolves every value (through the cache) and makes the result
// the target.
func (r *Resolver) Resolve(ctx context.Context) (*launch.Resolution, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resolve(ctx)
}

func (r *Resolver) resolve(ctx context.Context) (*launch.Resolution, error) {
	res, err := r.r.ResolveEnv(ctx, r.cfg.Environ(), nil)
	if err != nil {
		return res, err
	}
	t, err := TargetOf(res.Launch)
	if err != nil {
		return nil, err
	}
	r.cur = t
	r.keys = r.keys[:0]
	for _, v := range res.Resolved {
		for _, src := range v.Sources {
			if src.Fallback == "" {
				k := src.Ref.Key()
				k.Provider = src.Provider
				r.keys = append(r.keys, k)
			}
		}
	}
	return res, nil
}

// Target is the newest resolution's target.
func (r *Resolver) Target() *Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// refreshEvery bounds Refresh: a server that refuses every request must not
// turn into a stream of fetches from a rate-limited store.
const refreshEvery = 5 * time.Second

// Refresh resolves again from the stores, past the cache, and returns the
// target: after a 401, the value may have rotated before a poll saw it. At
// most once per refreshEvery; between, the target as it is.
func (r *Resolver) Refresh(ctx context.Context) (*Target, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.fresh) < refreshEvery {
		return r.cur, nil
	}
	r.fresh = time.Now()
	r.cache.Forget(r.keys...)
	if _, err := r.resolve(ctx); err != nil {
		return r.cur, err
	}
	return r.cur, nil
}
