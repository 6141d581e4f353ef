package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// settle is how long after a version's update the vault must have answered
// for that answer to be final. The secrets list gives `updated` in whole
// seconds, so a second version set within the same second would look the
// same; an answer dated 2 s later came after every version of that second
// (one second of margin for skew between the vault's front ends).
const settle = 2 * time.Second

// seen is what a GetSecret answered about a secret's current version.
type seen struct {
	updated int64 // attributes.updated, Unix seconds
	version string
	settled bool // answered at least settle after updated
}

// saw records a secret's current version as the vault answered it at time at.
func (v *vault) saw(name string, a *azsecrets.SecretAttributes, version string, at time.Time) {
	if a == nil || a.Updated == nil {
		return
	}
	s := seen{updated: a.Updated.Unix(), version: version, settled: !at.Before(a.Updated.Add(settle))}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen[strings.ToLower(name)] = s
}

// Versions reports the current version id of each secret, for rotation.
// Secrets that do not exist are absent.
//
// Key Vault's secrets list gives every secret's current attributes in one
// paged call per vault, but no version id, and `updated` in whole seconds
// only, so two versions set within one second look alike there. The list is
// a first pass: a secret whose `updated` is what a GetSecret (of Fetch or an
// earlier poll) saw, answered 2 s or more after that update, keeps that
// version; any other secret, changed or seen too soon after its update, is
// read with GetSecret, which names its version. A vault that refuses to list
// (an access policy with Get but not List) is polled with one GetSecret per
// secret.
func (p *Provider) Versions(ctx context.Context, keys []providers.Key) (map[providers.Key]string, error) {
	out := make(map[providers.Key]string, len(keys))
	var order []*vault
	wants := map[*vault][]want{}
	for _, k := range keys {
		loc, err := p.locate(providers.Ref{Provider: k.Provider, Path: k.Path, Version: k.Version, Stage: k.Stage})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if loc.version != "" { // pinned by its URL
			out[k] = loc.version
			continue
		}
		v, err := p.vault(loc.host)
		if err != nil {
			return nil, err
		}
		if wants[v] == nil {
			order = append(order, v)
		}
		wants[v] = append(wants[v], want{k, loc.name})
	}
	for _, v := range order {
		if err := v.versions(ctx, wants[v], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// want is a secret a poll asks about.
type want struct {
	key  providers.Key
	name string
}

func (v *vault) versions(ctx context.Context, wants []want, out map[providers.Key]string) error {
	names := map[string]bool{}
	for _, w := range wants {
		names[strings.ToLower(w.name)] = true
	}
	listed, err := v.list(ctx, names)
	if err != nil {
		return err
	}
	read := map[string]string{} // versions read in this poll, by lower-case name
	for _, w := range wants {
		name := strings.ToLower(w.name)
		if version, ok := read[name]; ok {
			out[w.key] = version
			continue
		}
		if listed != nil {
			updated, ok := listed[name]
			if !ok {
				continue
			}
			v.mu.Lock()
			s, ok := v.seen[name]
			v.mu.Unlock()
			if ok && s.settled && s.updated == updated {
				out[w.key] = s.version
				continue
			}
		}
		r, at, err := v.get(ctx, w.name, "") // the value is dropped here
		if errors.Is(err, providers.ErrNotFound) {
			continue // deleted since the list
		}
		if err != nil {
			return fmt.Errorf("%s: %w", w.key, err)
		}
		v.saw(w.name, r.Attributes, r.ID.Version(), at)
		read[name] = r.ID.Version()
		out[w.key] = r.ID.Version()
	}
	return nil
}

// list returns the `updated` time of each named secret the vault lists,
// reading pages until it has seen them all; nil if the vault refuses to list.
func (v *vault) list(ctx context.Context, names map[string]bool) (map[string]int64, error) {
	if v.listDenied.Load() {
		return nil, nil
	}
	listed := map[string]int64{}
	pager := v.client.NewListSecretPropertiesPager(nil)
	for pager.More() && len(listed) < len(names) {
		var page azsecrets.ListSecretPropertiesResponse
		err := v.do(ctx, func(ctx context.Context) error {
			var err error
			page, err = pager.NextPage(ctx)
			return err
		})
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			v.listDenied.Store(true)
			v.log.Info("azure: the vault does not let this identity list secrets; polling each secret instead (grant List for one call per poll)",
				"vault", v.host, "reason", responseReason(re))
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", v.host, describe(v.host, err))
		}
		for _, item := range page.Value {
			if item.ID == nil || item.Attributes == nil || item.Attributes.Updated == nil {
				continue
			}
			if name := strings.ToLower(item.ID.Name()); names[name] {
				listed[name] = item.Attributes.Updated.Unix()
			}
		}
	}
	return listed, nil
}
