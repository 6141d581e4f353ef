// Package sidecar serves the stdio MCP servers of an mcpServers file over
// MCP Streamable HTTP, one endpoint per server at /NAME/mcp, with /healthz,
// /readyz and /metrics beside them.
//
// Both protocol generations are served. A stateful session (up to
// 2025-11-25) starts on the client's initialize and gets a child of its
// own, addressed by Mcp-Session-Id. Stateless requests (2026-07-28, which
// carry their protocol version in _meta and headers) share a small warm
// pool of children. Every child runs under an injector.Supervisor, so a
// rotation restarts it without breaking the client's session, and what it
// prints is redacted, as with `mcp-secrets run`.
package sidecar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

// Options configure a Sidecar.
type Options struct {
	Spec       injector.Spec   // how children are stopped
	Guard      *injector.Guard // contains every child's tree, however the sidecar ends
	MaxMessage int             // longest message from a child; 0: injector.DefaultMaxMessage
	Redact     *redact.Set     // values hidden from what children print; nil: none
	Stderr     io.Writer       // the children's stderr, redacted, each line prefixed by its server's name
	Log        *slog.Logger
	Metrics    *Metrics
	// MaxSessions bounds the stateful sessions per server (at the cap the
	// least recently used idle one is evicted), and the users of a server
	// with {sub} references.
	MaxSessions int
	// IdleTimeout ends a session, or a user's pool, without requests for
	// this long; 0: never.
	IdleTimeout  time.Duration
	MaxBodyBytes int64 // of a POST
	PoolSize     int   // children per server (per user, with {sub}) for stateless requests
	// AuthToken, if not empty, is the bearer token the MCP endpoints require.
	AuthToken providers.Secret
	// OIDC, if set, makes the MCP endpoints an OAuth 2.1 resource server:
	// a request needs a JWT of the issuer for the audience.
	OIDC *OIDC
	// AllowOrigins are origins allowed besides localhost ones.
	AllowOrigins []string
	// Ready checks that every reference resolves now; /readyz runs it at
	// most once per ReadyEvery. Nil: always ready.
	Ready           func(context.Context) error
	ReadyEvery      time.Duration
	ShutdownTimeout time.Duration // to drain sessions and stop children
}

// Server is one server of the config, resolved: the launch its children
// start with.
type Server struct {
	Name   string
	Launch launch.Launch
	// Remote is a url entry: Launch holds its URL and headers
	// (remote.Config.Environ), and no child runs.
	Remote bool
	// Users, if set, resolves the launch of each user (references with
	// {sub}; Options.OIDC required): Launch is then unused.
	Users Users
}

// Sidecar serves the servers. Create it with New.
type Sidecar struct {
	opts      Options
	backends  map[string]*backend
	remotes   map[string]*remoteServer
	mcp       *http.ServeMux // the servers' endpoints
	admin     *http.ServeMux // /healthz, /readyz, /metrics
	all       *http.ServeMux // both
	tokenHash [32]byte
	stopping  atomic.Bool
	ready     readiness
}

// backend is one server: its sessions, and its tenants (the launch its
// children start with, and their pool).
type backend struct {
	name    string
	sc      *Sidecar
	stderr  io.Writer
	forUser Users          // nil: every request is the shared tenant's
	shared  *tenant        // without {sub}
	running sync.WaitGroup // children's supervisors and pool members
	mu      sync.Mutex
	tenants map[string]*tenant // by user, with {sub}
	// sessions by id; opening counts those whose child is starting.
	sessions map[string]*session
	opening  int
	stopped  bool
}

// MCP protocol facts.
const (
	sessionHeader  = "Mcp-Session-Id"
	versionHeader  = "Mcp-Protocol-Version"
	methodHeader   = "Mcp-Method"
	nameHeader     = "Mcp-Name"
	statelessSince = "2026-07-28"

	invalidRequest      = -32600
	methodNotFound      = -32601
	invalidParams       = -32602
	parseError          = -32700
	goneCode            = injector.RestartedCode // the request may be retried
	headerMismatch      = -32020
	missingCapabilities = -32021
	unsupportedVersion  = -32022
)

var knownVersions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}

// New makes a sidecar for servers. Nothing runs until Serve.
func New(opts Options, servers []Server) *Sidecar {
	s := &Sidecar{opts: opts, backends: map[string]*backend{}, remotes: map[string]*remoteServer{}, mcp: http.NewServeMux(), admin: http.NewServeMux(), all: http.NewServeMux()}
	if opts.AuthToken.Len() > 0 {
		s.tokenHash = sha256.Sum256([]byte(opts.AuthToken.Reveal()))
	}
	var stderrMu sync.Mutex
	for _, srv := range servers {
		if srv.Remote {
			r := s.newRemote(srv)
			s.remotes[srv.Name] = r
			for _, mux := range []*http.ServeMux{s.mcp, s.all} {
				mux.Handle("/"+srv.Name+"/mcp", s.guard(srv.Name, r))
			}
			continue
		}
		b := &backend{name: srv.Name, sc: s, forUser: srv.Users, sessions: map[string]*session{}}
		if b.forUser != nil {
			b.tenants = map[string]*tenant{}
		} else {
			b.shared = newTenant(b, "")
			b.shared.launch = srv.Launch
			close(b.shared.ready)
		}
		b.stderr = &prefixWriter{mu: &stderrMu, w: opts.Stderr, prefix: []byte(srv.Name + ": "), seen: b.redactions}
		s.backends[srv.Name] = b
		opts.Metrics.maxSessions.WithLabelValues(srv.Name).Add(float64(opts.MaxSessions))
		for _, mux := range []*http.ServeMux{s.mcp, s.all} {
			mux.Handle("/"+srv.Name+"/mcp", s.guard(b.name, b))
		}
	}
	if o := opts.OIDC; o != nil {
		// Served without a token: it tells a client where to get one.
		for _, srv := range servers {
			for _, mux := range []*http.ServeMux{s.mcp, s.all} {
				mux.Handle("GET /.well-known/oauth-protected-resource/"+srv.Name+"/mcp", o.resourceMetadata(srv.Name))
			}
		}
	}
	for _, mux := range []*http.ServeMux{s.admin, s.all} {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		mux.HandleFunc("GET /readyz", s.readyz)
		mux.Handle("GET /metrics", opts.Metrics.Handler())
	}
	return s
}

// ServeHTTP serves the servers' endpoints, /healthz, /readyz and /metrics.
func (s *Sidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.all.ServeHTTP(w, r) }

// Rotate hands a server's new launch to every child of it; children
// started later start with it. It never waits for a child.
func (s *Sidecar) Rotate(name string, l launch.Launch) {
	s.opts.Metrics.rotations.WithLabelValues(name).Inc()
	if r := s.remotes[name]; r != nil {
		r.rotate(l, s)
		return
	}
	s.backends[name].shared.rotate(l)
}

// redactions counts the values redacted from what a child printed.
func (b *backend) redactions(line []byte) {
	if n := bytes.Count(line, []byte("[REDACTED:")); n > 0 {
		b.sc.opts.Metrics.redactions.WithLabelValues(b.name).Add(float64(n))
	}
}

// Serve starts the pools and serves on ln until ctx is done; then it stops
// accepting, lets requests in flight finish, and stops every child, within
// the shutdown timeout. With an admin listener, /healthz, /readyz and
// /metrics are served there instead (kubelet's probes and Prometheus come
// to the pod's address, while the servers stay on loopback).
func (s *Sidecar) Serve(ctx context.Context, ln, admin net.Listener) error {
	for _, b := range s.backends {
		b.warm()
	}
	server := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelDebug),
		}
	}
	srv := server(s.all)
	errc := make(chan error, 2)
	if admin != nil {
		srv.Handler = s.mcp
		adm := server(s.admin)
		defer adm.Close()
		go func() { errc <- adm.Serve(admin) }()
	}
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	deadline := time.Now().Add(s.opts.ShutdownTimeout)
	s.opts.Log.Info("shutting down", "timeout", s.opts.ShutdownTimeout)
	s.stopping.Store(true)
	for _, b := range s.backends {
		b.closeStreams()
	}
	for _, r := range s.remotes {
		r.close()
	}
	// Requests in flight may finish while children still have time to stop.
	drain, cancel := context.WithDeadline(context.Background(), deadline.Add(-s.opts.Spec.StopTimeout))
	if serr := srv.Shutdown(drain); serr != nil {
		s.opts.Log.Warn("requests still in flight at the end of the drain", "err", serr)
	}
	cancel()
	for _, b := range s.backends {
		b.stop()
	}
	done := make(chan struct{})
	go func() {
		for _, b := range s.backends {
			b.running.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		s.opts.Log.Info("every child has stopped")
	case <-time.After(time.Until(deadline)):
		s.opts.Log.Warn("children still running at the end of the shutdown timeout; they are killed with the sidecar")
	}
	srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// warm starts the shared pool: stateless requests find children running.
// Users' pools start on their first request.
func (b *backend) warm() {
	if b.shared != nil {
		b.mu.Lock()
		b.shared.poolLocked()
		b.mu.Unlock()
	}
}

// pools are the backend's stateless pools, the shared one and the users'.
func (b *backend) pools() []*pool {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*pool
	if b.shared != nil && b.shared.pool != nil {
		out = append(out, b.shared.pool)
	}
	for _, t := range b.tenants {
		if t.pool != nil {
			out = append(out, t.pool)
		}
	}
	return out
}

// closeStreams ends the streams that last until the client leaves (GET,
// subscriptions/listen), which would otherwise hold a shutdown.
func (b *backend) closeStreams() {
	for _, s := range b.liveSessions() {
		s.closeStream()
	}
	for _, p := range b.pools() {
		p.closeListens()
	}
}

// stop ends every session, user and pool; no child starts after.
func (b *backend) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	for _, s := range b.liveSessions() {
		s.close("the sidecar is shutting down")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shared != nil && b.shared.pool != nil {
		b.shared.pool.shutdown()
	}
	for _, t := range b.tenants {
		t.closeLocked()
	}
}

func (b *backend) liveSessions() []*session {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		out = append(out, s)
	}
	return out
}

// session is the session id names, if the request's user opened it: a
// user never reaches another user's session.
func (b *backend) session(id string, r *http.Request) *session {
	b.mu.Lock()
	s := b.sessions[id]
	b.mu.Unlock()
	if s == nil || s.sub != userOf(r) {
		return nil
	}
	return s
}

// readiness caches the result of Options.Ready.
type readiness struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// readyz is ready when every reference resolves now (checked at most once
// per ReadyEvery, however many probes ask) and the sidecar is not shutting
// down.
func (s *Sidecar) readyz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.ready.mu.Lock()
	if time.Since(s.ready.at) >= s.opts.ReadyEvery && s.opts.Ready != nil {
		s.ready.err = s.opts.Ready(context.WithoutCancel(r.Context()))
		s.ready.at = time.Now()
	}
	err := s.ready.err
	s.ready.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}
