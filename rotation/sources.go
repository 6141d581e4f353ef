// Package rotation watches the secrets a child uses and tells the supervisor
// when its environment really changed: provider polls, lease renewals and
// file watches produce hints; a hint re-resolves, and only a different
// fingerprint of the child's would-be environment restarts it.
package rotation

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/backoff"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// plan is what to watch for one resolution.
type plan struct {
	polls  map[string]*pollGroup // by provider
	leases map[string]*leaseWatch
	files  []string
}

type pollGroup struct {
	provider string
	lister   providers.VersionLister
	known    map[providers.Key]string // versions as resolved
}

type leaseWatch struct {
	provider string
	renewer  providers.Renewer
	lease    providers.Lease
	keys     []providers.Key
}

func (w *Watcher) plan(r *launch.Resolution) plan {
	p := plan{polls: map[string]*pollGroup{}, leases: map[string]*leaseWatch{}}
	files := map[string]bool{}
	for _, f := range w.Files {
		files[f] = true
	}
	for _, res := range r.Resolved {
		for _, src := range res.Sources {
			if src.Fallback != "" {
				files[src.Fallback] = true
				continue
			}
			k := effectiveKey(src)
			prov := w.Providers[src.Provider]
			if rn, ok := prov.(providers.Renewer); ok && src.Lease.ID != "" {
				lw := p.leases[src.Lease.ID]
				if lw == nil {
					lw = &leaseWatch{provider: src.Provider, renewer: rn, lease: src.Lease}
					p.leases[src.Lease.ID] = lw
				}
				if !slices.Contains(lw.keys, k) {
					lw.keys = append(lw.keys, k)
				}
				continue
			}
			if fs, ok := prov.(providers.FileSource); ok {
				for _, f := range fs.Files(k) {
					files[f] = true
				}
				continue
			}
			if vl, ok := prov.(providers.VersionLister); ok && !k.Pinned() {
				g := p.polls[src.Provider]
				if g == nil {
					g = &pollGroup{provider: src.Provider, lister: vl, known: map[providers.Key]string{}}
					p.polls[src.Provider] = g
				}
				g.known[k] = src.Version
			}
		}
	}
	p.files = slices.Sorted(maps.Keys(files))
	return p
}

// digest identifies what the plan watches, to tell when a new resolution
// needs the sources started again.
func (p plan) digest() [32]byte {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(p.polls)) {
		for _, k := range slices.SortedFunc(maps.Keys(p.polls[name].known), compareKeys) {
			fmt.Fprintf(h, "poll %s\x00", k)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(p.leases)) {
		fmt.Fprintf(h, "lease %s\x00", id)
	}
	for _, f := range p.files {
		fmt.Fprintf(h, "file %s\x00", f)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

func compareKeys(a, b providers.Key) int {
	if a.String() < b.String() {
		return -1
	}
	if a.String() > b.String() {
		return 1
	}
	return 0
}

// sources are the goroutines watching one plan.
type sources struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// stop ends the sources and waits for them.
func (s *sources) stop() {
	s.cancel()
	s.wg.Wait()
}

func (w *Watcher) start(ctx context.Context, r *launch.Resolution, hints chan<- hint) *sources {
	ctx, cancel := context.WithCancel(ctx)
	s := &sources{cancel: cancel}
	p := w.plan(r)
	for _, g := range p.polls {
		s.wg.Go(func() { w.poll(ctx, g, hints) })
	}
	for _, l := range p.leases {
		s.wg.Go(func() { w.renew(ctx, l, hints) })
	}
	if len(p.files) > 0 {
		s.wg.Go(func() { w.watchFiles(ctx, p.files, hints) })
	}
	return s
}

// send delivers a hint unless the source is being stopped.
func send(ctx context.Context, hints chan<- hint, h hint) bool {
	select {
	case hints <- h:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads polls by ±10%, so many launchers do not poll in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// poll asks one store for the versions of its secrets every interval and
// hints at the ones that changed. A failing store is logged once when it
// goes down and once when it comes back, and asked again after a capped
// backoff; it never touches the child.
func (w *Watcher) poll(ctx context.Context, g *pollGroup, hints chan<- hint) {
	keys := slices.SortedFunc(maps.Keys(g.known), compareKeys)
	failures := 0
	for delay := jitter(w.Interval); backoff.Sleep(ctx, delay); {
		got, err := withTimeout(ctx, w.Timeout, func(ctx context.Context) (map[providers.Key]string, error) { return g.lister.Versions(ctx, keys) })
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if failures == 0 {
				w.Log.Warn("provider degraded: keeping the current values", "provider", g.provider, "err", err)
			}
			failures++
			delay = retry(w.Interval).Delay(failures)
			continue
		}
		if failures > 0 {
			w.Log.Info("provider recovered", "provider", g.provider, "failed_polls", failures)
			failures = 0
		}
		delay = jitter(w.Interval)
		var changed []providers.Key
		var attrs []any
		quiet := true
		for _, k := range keys {
			v, ok := got[k]
			if !ok || v == g.known[k] {
				continue
			}
			// A store whose fetch carries no version (Vault KV v1: a digest
			// here) gets its baseline now: fetched again to be sure, quietly.
			quiet = quiet && g.known[k] == ""
			changed = append(changed, k)
			attrs = append(attrs, k.String(), g.known[k]+" -> "+v)
			g.known[k] = v
		}
		if len(changed) > 0 && !send(ctx, hints, hint{keys: changed, reason: "new version in " + g.provider, attrs: attrs, quiet: quiet}) {
			return
		}
	}
}

// renew keeps a lease alive at about 2/3 of its TTL, and hints that its
// secrets must be fetched again before it can no longer be renewed: when
// renewal is refused, or when the store grants less than asked (the lease
// nears its maximum TTL).
func (w *Watcher) renew(ctx context.Context, l *leaseWatch, hints chan<- hint) {
	want := l.lease.TTL
	lease := l.lease
	expires := time.Now().Add(lease.TTL)
	refetch := func(why string) {
		send(ctx, hints, hint{keys: l.keys, reason: why, attrs: []any{"provider", l.provider, "lease", lease.ID}})
	}
	for {
		if !backoff.Sleep(ctx, time.Until(expires)*2/3) {
			return
		}
		if !lease.Renewable {
			refetch("lease not renewable, expiring")
			return
		}
		next, err := withTimeout(ctx, w.Timeout, func(ctx context.Context) (providers.Lease, error) { return l.renewer.Renew(ctx, lease) })
		switch {
		case ctx.Err() != nil:
			return
		case errorsIsAny(err, providers.ErrNotFound, providers.ErrDenied):
			w.Log.Warn("lease can no longer be renewed", "provider", l.provider, "lease", lease.ID, "err", err)
			refetch("lease renewal refused")
			return
		case err != nil:
			// Try again at 2/3 of what is left; fetch anew when little is.
			w.Log.Warn("lease renewal failed; retrying", "provider", l.provider, "lease", lease.ID, "err", err)
			if time.Until(expires) < time.Second {
				refetch("lease expiring")
				return
			}
			continue
		}
		lease, expires = next, time.Now().Add(next.TTL)
		w.Log.Info("lease renewed", "provider", l.provider, "lease", lease.ID, "ttl", lease.TTL)
		if next.TTL < want {
			if !backoff.Sleep(ctx, next.TTL*2/3) {
				return
			}
			refetch("lease near its maximum TTL")
			return
		}
	}
}

// fileWatchDelay is how long a child runs before its files are watched.
const fileWatchDelay = 200 * time.Millisecond

// watchFiles hints when a watched file changes. It watches directories:
// editors save by rename, and Kubernetes swaps a "..data" symlink.
func (w *Watcher) watchFiles(ctx context.Context, files []string, hints chan<- hint) {
	names := map[string]map[string]bool{} // dir -> base names
	for _, f := range files {
		dir, base := filepath.Split(f)
		dir = filepath.Clean(dir)
		if names[dir] == nil {
			names[dir] = map[string]bool{}
		}
		names[dir][base] = true
	}
	// An inotify descriptor costs the process 10-20 ms when it is released
	// (the kernel's RCU grace period, at exit too): a child that ends at once
	// (a CLI run through the launcher) never has one made for it.
	select {
	case <-time.After(fileWatchDelay):
	case <-ctx.Done():
		return
	}
	// A file changed between the resolution the child started with and
	// the watch would go unseen: once the watches are in place, check them
	// all (a re-resolution that restarts nothing if nothing changed).
	ready := func() bool {
		return send(ctx, hints, hint{reason: "files watched: checking them once", quiet: true})
	}
	watchDirs(ctx, w.Log, names, ready, func(file string) bool {
		return send(ctx, hints, hint{reason: "file changed: " + file})
	})
}
