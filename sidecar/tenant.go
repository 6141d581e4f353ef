package sidecar

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// A tenant is what a set of children start with. A server whose references
// name {sub} has one per user, holding that user's values, children and
// stateless pool, so a user never reaches a child started with another
// user's values; any other server has one tenant for everyone.
type tenant struct {
	b       *backend
	sub     string       // the user; "" for the shared tenant
	version atomic.Int64 // of launch: one more per rotation
	ready   chan struct{}
	err     error // why the user's values do not resolve; valid once ready is closed

	// Idle accounting without b.mu on the request path: active rises under
	// b.mu only (tenantFor), so eviction, which holds it, sees every user.
	active atomic.Int32 // stateless requests in flight
	used   atomic.Int64 // unix nanoseconds of the last request's end

	// Under b.mu.
	launch    launch.Launch
	children  map[*child]struct{} // every live child: a rotation reaches them all
	pool      *pool               // nil until the user's first stateless request
	sessions  int                 // open sessions
	failed    time.Time           // when err was found
	idle      *time.Timer
	stopWatch func()
	closed    bool
}

// Users resolves a server's launch for one user, with {sub} in its
// references replaced by the user's sub. Rotated gets the user's later
// launches until stop is called.
type Users func(ctx context.Context, sub string, rotated func(launch.Launch)) (first launch.Launch, stop func(), err error)

// userRetry is how long a user whose values do not resolve is answered with
// that error before they are fetched again: a client that retries at once
// must not become a fetch loop against a provider.
const userRetry = 10 * time.Second

// resolveTimeout bounds the resolution of a new user's values, whatever
// the request that asked for it does.
const resolveTimeout = 30 * time.Second

func newTenant(b *backend, sub string) *tenant {
	t := &tenant{b: b, sub: sub, ready: make(chan struct{}), children: map[*child]struct{}{}}
	t.used.Store(time.Now().UnixNano())
	return t
}

// tenantFor is the tenant of a request by user sub, resolved, with one
// request counted active; release it with leave. A new user past the cap
// evicts the least recently used user that is idle.
func (b *backend) tenantFor(ctx context.Context, sub string) (*tenant, error) {
	if b.forUser == nil {
		b.shared.active.Add(1)
		return b.shared, nil
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return nil, errDraining
	}
	t := b.tenants[sub]
	if t != nil && t.err != nil && time.Since(t.failed) >= userRetry {
		t.closeLocked()
		t = nil
	}
	if t == nil {
		if len(b.tenants) >= b.sc.opts.MaxSessions && !b.evictTenantLocked() {
			b.mu.Unlock()
			return nil, errTooMany
		}
		t = newTenant(b, sub)
		b.tenants[sub] = t
		go t.resolve()
	}
	t.active.Add(1)
	b.mu.Unlock()
	select {
	case <-t.ready:
	case <-ctx.Done():
		t.leave()
		return nil, ctx.Err()
	}
	if t.err != nil {
		t.leave()
		return nil, t.err
	}
	return t, nil
}

// leave ends a request counted by tenantFor.
func (t *tenant) leave() {
	t.used.Store(time.Now().UnixNano())
	t.active.Add(-1)
}

// resolve fetches a new user's values and starts watching them.
func (t *tenant) resolve() {
	b := t.b
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	l, stop, err := b.forUser(ctx, t.sub, func(l launch.Launch) {
		b.sc.opts.Metrics.rotations.WithLabelValues(b.name).Inc()
		t.rotate(l)
	})
	cancel()
	b.mu.Lock()
	defer b.mu.Unlock()
	defer close(t.ready)
	if err != nil {
		b.sc.opts.Log.Error("a user's values do not resolve", "server", b.name, "sub", t.sub, "err", err)
		t.err, t.failed = userError(err), time.Now()
		return
	}
	if t.closed { // the sidecar is stopping
		stop()
		t.err = errDraining
		return
	}
	t.launch, t.stopWatch = l, stop
	if d := b.sc.opts.IdleTimeout; d > 0 {
		t.idle = time.AfterFunc(d, t.expire)
	}
}

// userError is what a client is told when its values do not resolve: the
// store's answer kind, never its text (it names paths and other users').
func userError(err error) error {
	switch {
	case errors.Is(err, providers.ErrNotFound), errors.Is(err, providers.ErrDenied):
		return errNoValues
	case errors.Is(err, providers.ErrMalformed):
		return errBadSub
	}
	return errStoreDown
}

const (
	errNoValues  sessionError = "no secrets for this user"
	errBadSub    sessionError = "this user's references are not valid"
	errStoreDown sessionError = "this user's secrets cannot be fetched now; retry later"
)

// expire ends a user that has had no session and no request for the idle
// timeout.
func (t *tenant) expire() {
	b := t.b
	d := b.sc.opts.IdleTimeout
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.closed {
		return
	}
	since := time.Since(time.Unix(0, t.used.Load()))
	if t.sessions == 0 && t.active.Load() == 0 && since >= d {
		b.sc.opts.Log.Info("user idle; its children stop", "server", b.name, "sub", t.sub, "idle", d)
		t.closeLocked()
		return
	}
	t.idle.Reset(max(d-since, time.Second))
}

// evictTenantLocked ends the least recently used user with no session and
// no request in flight; false if every user is busy. Called with b.mu held.
func (b *backend) evictTenantLocked() bool {
	var lru *tenant
	for _, t := range b.tenants {
		if t.sessions == 0 && t.active.Load() == 0 && (lru == nil || t.used.Load() < lru.used.Load()) {
			lru = t
		}
	}
	if lru == nil {
		return false
	}
	b.sc.opts.Log.Info("too many users; the least recently used one's children stop", "server", b.name, "sub", lru.sub)
	lru.closeLocked()
	return true
}

// closeLocked ends a user: its watcher and its pool; its sessions are
// gone already. Called with b.mu held.
func (t *tenant) closeLocked() {
	t.closed = true
	if t.b.tenants[t.sub] == t {
		delete(t.b.tenants, t.sub)
	}
	if t.idle != nil {
		t.idle.Stop()
	}
	if t.stopWatch != nil {
		t.stopWatch()
	}
	if t.pool != nil {
		t.pool.shutdown()
	}
}

// poolLocked is the user's stateless pool, started on first use. Called
// with b.mu held.
func (t *tenant) poolLocked() *pool {
	if t.pool == nil {
		t.pool = newPool(t, t.b.sc.opts.PoolSize)
		t.pool.start()
	}
	return t.pool
}

// rotate hands the tenant's new launch to every child of it; children
// started later start with it. It never waits for a child.
func (t *tenant) rotate(l launch.Launch) {
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t.launch = l
	t.version.Add(1)
	for c := range t.children {
		c.offer(l)
	}
}

// versionOf is the version of l if it is the tenant's newest launch, else -1.
func (t *tenant) versionOf(l launch.Launch) int64 {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if slices.Equal(l.Argv, t.launch.Argv) && slices.Equal(l.Env, t.launch.Env) {
		return t.version.Load()
	}
	return -1
}

// start starts a child with the tenant's newest launch. onMessage gets
// each message it prints (redacted, on the supervisor's goroutine: it must
// not block), restarted each launch it took over with.
func (t *tenant) start(kind string, log *slog.Logger, onMessage func(injector.Message), restarted func(launch.Launch)) (*child, error) {
	b := t.b
	ctx, cancel := context.WithCancel(context.Background())
	c := &child{updates: make(chan launch.Launch, 1), cancel: cancel, done: make(chan struct{})}
	c.conn = injector.NewConn(func(m injector.Message) {
		b.redactions(m.Line)
		onMessage(m)
	})
	m := b.sc.opts.Metrics
	sup := &injector.Supervisor{
		Spec:       b.sc.opts.Spec,
		Conn:       c.conn,
		Stderr:     b.stderr,
		Redact:     b.sc.opts.Redact,
		Guard:      b.sc.opts.Guard,
		MaxMessage: b.sc.opts.MaxMessage,
		Log:        log,
		Restarted: func(l launch.Launch) {
			m.restarts.WithLabelValues(b.name, "rotation").Inc()
			if restarted != nil {
				restarted(l)
			}
		},
	}
	b.mu.Lock()
	c.launch = t.launch
	t.children[c] = struct{}{}
	b.running.Add(1)
	b.mu.Unlock()
	gauge := m.children.WithLabelValues(b.name, kind)
	gauge.Inc()
	go func() {
		defer b.running.Done()
		c.status, c.err = sup.Run(ctx, c.launch, c.updates, nil)
		b.mu.Lock()
		delete(t.children, c)
		b.mu.Unlock()
		gauge.Dec()
		cancel()
		close(c.done)
	}()
	return c, nil
}
