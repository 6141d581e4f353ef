package rotation

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"slices"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/backoff"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Watcher watches the secrets a resolution used. Change events are hints:
// after a quiet period it resolves again, and only when the child's would-be
// launch (argv and environment) differs does it hand the new one to the
// supervisor. A store that is down never stops or restarts the child: the
// old values stay, and the watcher retries with a capped backoff.
type Watcher struct {
	// Resolve resolves every reference again (reading through Cache).
	Resolve func(context.Context) (*launch.Resolution, error)
	// Providers are the providers by name, as built: the ones that can
	// list versions, renew leases or name their files are watched.
	Providers map[string]providers.Provider
	Cache     *Cache
	// Files are always watched: the dotenv files hold variables and the
	// fallback's values.
	Files       []string
	Interval    time.Duration // between polls of a store, ±10%
	Timeout     time.Duration // of each poll or renewal; 0 means none
	Debounce    time.Duration // quiet time after the last hint before resolving
	DebounceMax time.Duration // longest a stream of hints can postpone it
	Log         *slog.Logger
	Updates     chan<- launch.Launch
}

// hint says secrets may have changed: keys (to fetch again), or files.
type hint struct {
	keys   []providers.Key
	reason string
	attrs  []any // for the change log: provider, old and new versions
	quiet  bool  // a first version seen, not known to be a change: logged at debug
}

// Run watches until ctx is done. first is the resolution the child started
// with.
func (w *Watcher) Run(ctx context.Context, first *launch.Resolution) {
	hints := make(chan hint)
	cur := w.state(first)
	srcs := w.start(ctx, first, hints)
	defer func() { srcs.stop() }()

	timer := time.NewTimer(0)
	if !timer.Stop() {
		<-timer.C
	}
	var burst time.Time // first hint not yet acted on
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case h := <-hints:
			w.Cache.Forget(h.keys...)
			attrs := append([]any{"reason", h.reason}, h.attrs...)
			if len(h.keys) > 0 {
				attrs = append(attrs, "variables", cur.variables(h.keys))
			}
			level := slog.LevelInfo
			if !burst.IsZero() || h.quiet {
				level = slog.LevelDebug // one line per burst: an editor's save is several events
			}
			w.Log.Log(ctx, level, "change detected", attrs...)
			now := time.Now()
			if burst.IsZero() {
				burst = now
			}
			// Quiescence, but never later than DebounceMax after the first.
			timer.Reset(min(w.Debounce, time.Until(burst.Add(w.DebounceMax))))
		case <-timer.C:
			next, err := w.Resolve(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if failures == 0 {
					w.Log.Warn("resolving after a change failed; the child keeps its values", "err", err)
				}
				failures++
				timer.Reset(retry(w.Interval).Delay(failures))
				continue
			}
			if failures > 0 {
				w.Log.Info("resolving works again", "failures", failures)
			}
			failures, burst = 0, time.Time{}
			ns := w.state(next)
			if changed := ns.changedFrom(cur); len(changed) == 0 {
				w.Log.Debug("no change in the child's environment")
			} else {
				w.Log.Info("new values", "variables", changed)
				select {
				case w.Updates <- next.Launch:
				case <-ctx.Done():
					return
				}
			}
			if ns.watch != cur.watch {
				srcs.stop()
				srcs = w.start(ctx, next, hints)
			}
			cur = ns
		}
	}
}

// state is what the watcher keeps of a resolution: digests, never values.
type state struct {
	launch [32]byte
	vars   map[string][32]byte
	byKey  map[providers.Key][]string // variables using each secret
	watch  [32]byte                   // what is watched: keys, leases, files
}

func (w *Watcher) state(r *launch.Resolution) state {
	s := state{launch: r.Launch.Fingerprint(), vars: map[string][32]byte{}, byKey: map[providers.Key][]string{}}
	for _, res := range r.Resolved {
		s.vars[res.Name] = sha256.Sum256([]byte(res.Value.Reveal()))
		for _, src := range res.Sources {
			k := effectiveKey(src)
			s.byKey[k] = append(s.byKey[k], res.Name)
		}
	}
	s.watch = w.plan(r).digest()
	return s
}

// changedFrom names the variables whose values differ, or nil if the launch
// is the same.
func (s state) changedFrom(old state) []string {
	if s.launch == old.launch {
		return nil
	}
	var names []string
	for name, d := range s.vars {
		if old.vars[name] != d {
			names = append(names, name)
		}
	}
	for name := range old.vars {
		if _, ok := s.vars[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		names = []string{"(argv or environment)"}
	}
	return names
}

func (s state) variables(keys []providers.Key) []string {
	var names []string
	for _, k := range keys {
		names = append(names, s.byKey[k]...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// effectiveKey is the secret a source read, with the default provider
// applied.
func effectiveKey(src providers.Source) providers.Key {
	k := src.Ref.Key()
	k.Provider = src.Provider
	return k
}

// retry is the wait after failures of a poll or a resolution: doubling
// from twice the poll interval, capped at the larger of twice the interval
// and 10s, so a store that comes back is seen again soon.
func retry(interval time.Duration) backoff.Policy {
	return backoff.Policy{First: 2 * interval, Max: max(2*interval, 10*time.Second)}
}
