package vault

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// versionsParallel bounds the requests Versions has in flight.
const versionsParallel = 8

// Versions reports the current version of each KV secret: KV v2's
// current_version from the secret's metadata, and for KV v1, which has no
// versions, a keyed digest of the value (a KV v1 read says lease_duration
// 768h though nothing is leased: waiting for it would miss every change).
// Leased secrets and other engines are absent: rotation renews leases, and
// reading them would mint new credentials. So are secrets that are gone.
// ctx bounds the whole call.
func (p *Provider) Versions(ctx context.Context, keys []providers.Key) (map[providers.Key]string, error) {
	c, err := p.use(ctx)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	out := make(map[providers.Key]string, len(keys))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(versionsParallel)
	for _, k := range keys {
		g.Go(func() error {
			v, err := p.version(ctx, c, strings.Trim(k.Path, "/"))
			switch {
			case errors.Is(err, providers.ErrNotFound):
			case err != nil:
				return fmt.Errorf("%s: %w", k, err)
			case v != "":
				mu.Lock()
				out[k] = v
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// version is the current version of the secret at path, "" if it has none.
func (p *Provider) version(ctx context.Context, c *api.Client, path string) (string, error) {
	m, err := p.mountOf(ctx, c, path)
	if err != nil {
		return "", err
	}
	switch m.kv {
	case 2:
		data, meta, err := m.kv2Paths(path)
		if err != nil {
			return "", err
		}
		s, err := p.read(ctx, c, "read "+meta, meta, nil)
		if errors.Is(err, providers.ErrDenied) {
			// Policies often grant data/ alone; a data read carries the version too.
			if s, err = p.read(ctx, c, "read "+data, data, nil); err != nil {
				return "", err
			}
			md, _ := s.Data["metadata"].(map[string]any)
			return number(md["version"]), nil
		}
		if err != nil {
			return "", err
		}
		return number(s.Data["current_version"]), nil
	case 1:
		s, err := p.read(ctx, c, "read "+path, path, nil)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(s.Data)
		if err != nil {
			return "", fmt.Errorf("%w: read %s: data cannot be encoded", providers.ErrUnavailable, path)
		}
		mac := hmac.New(sha256.New, p.digestKey)
		mac.Write(b)
		return "hmac-sha256:" + hex.EncodeToString(mac.Sum(nil)), nil
	}
	return "", nil
}

// Renew extends a lease by its TTL and returns it with the TTL Vault
// granted (shorter near the lease's max TTL). A lease that is gone (revoked,
// expired) or cannot be renewed is ErrNotFound. ctx bounds the call.
func (p *Provider) Renew(ctx context.Context, l providers.Lease) (providers.Lease, error) {
	c, err := p.use(ctx)
	if err != nil {
		return providers.Lease{}, err
	}
	what := "renew lease " + l.ID
	s, err := c.Sys().RenewWithContext(ctx, l.ID, int(l.TTL/time.Second))
	if err != nil {
		f := classify(err)
		kind := f.kind
		if f.status == http.StatusBadRequest {
			kind = providers.ErrNotFound // "lease not found", "lease expired", "lease is not renewable"
		}
		return providers.Lease{}, f.as(kind, what, []string{c.Token()})
	}
	if s == nil {
		return providers.Lease{}, fmt.Errorf("%w: %s: Vault answered nothing", providers.ErrUnavailable, what)
	}
	return providers.Lease{ID: cmp.Or(s.LeaseID, l.ID), TTL: seconds(s.LeaseDuration), Renewable: s.Renewable}, nil
}
