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
	"slices"
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
	Spec         injector.Spec   // how children are stopped
	Guard        *injector.Guard // contains every child's tree, however the sidecar ends
	MaxMessage   int             // longest message from a child; 0: injector.DefaultMaxMessage
	Redact       *redact.Set     // values hidden from what children print; nil: none
	Stderr       io.Writer       // the children's stderr, redacted, each line prefixed by its server's name
	Log          *slog.Logger
	Metrics      *Metrics
	MaxSessions  int           // stateful sessions per server
	IdleTimeout  time.Duration // a session without requests for this long ends; 0: never
	MaxBodyBytes int64         // of a POST
	PoolSize     int           // children per server for stateless requests
	// AuthToken, if not empty, is the bearer token the MCP endpoints require.
	AuthToken providers.Secret
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
}

// Sidecar serves the servers. Create it with New.
type Sidecar struct {
	opts      Options
	backends  map[string]*backend
	mcp       *http.ServeMux // the servers' endpoints
	admin     *http.ServeMux // /healthz, /readyz, /metrics
	all       *http.ServeMux // both
	tokenHash [32]byte
	stopping  atomic.Bool
	ready     readiness
}

// backend is one server: its sessions, its pool, and the launch its
// children start with.
type backend struct {
	name     string
	sc       *Sidecar
	stderr   io.Writer
	pool     *pool
	version  atomic.Int64 // of launch: one more per rotation
	running  sync.WaitGroup
	mu       sync.Mutex
	launch   launch.Launch
	children map[*child]struct{} // every live child: a rotation reaches them all
	sessions map[string]*session
	opening  int // sessions whose child is starting
	stopped  bool
}

// MCP protocol facts.
const (
	sessionHeader  = "Mcp-Session-Id"
	versionHeader  = "Mcp-Protocol-Version"
	methodHeader   = "Mcp-Method"
	nameHeader     = "Mcp-Name"
	statelessSince = "2026-07-28"
	versionMeta    = "io.modelcontextprotocol/protocolVersion"

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
	s := &Sidecar{opts: opts, backends: map[string]*backend{}, mcp: http.NewServeMux(), admin: http.NewServeMux(), all: http.NewServeMux()}
	if opts.AuthToken.Len() > 0 {
		s.tokenHash = sha256.Sum256([]byte(opts.AuthToken.Reveal()))
	}
	var stderrMu sync.Mutex
	for _, srv := range servers {
		b := &backend{
			name:     srv.Name,
			sc:       s,
			launch:   srv.Launch,
			children: map[*child]struct{}{},
			sessions: map[string]*session{},
		}
		b.stderr = &prefixWriter{mu: &stderrMu, w: opts.Stderr, prefix: []byte(srv.Name + ": "), seen: b.redactions}
		b.pool = newPool(b, opts.PoolSize)
		s.backends[srv.Name] = b
		for _, mux := range []*http.ServeMux{s.mcp, s.all} {
			mux.Handle("/"+srv.Name+"/mcp", s.guard(b))
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
	b := s.backends[name]
	s.opts.Metrics.rotations.WithLabelValues(name).Inc()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.launch = l
	b.version.Add(1)
	for c := range b.children {
		c.offer(l)
	}
}

// versionOf is the version of l if it is the newest launch, else -1.
func (b *backend) versionOf(l launch.Launch) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.Equal(l.Argv, b.launch.Argv) && slices.Equal(l.Env, b.launch.Env) {
		return b.version.Load()
	}
	return -1
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
		b.pool.start()
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
			b.pool.wg.Wait()
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

// closeStreams ends the streams that last until the client leaves (GET,
// subscriptions/listen), which would otherwise hold a shutdown.
func (b *backend) closeStreams() {
	for _, s := range b.liveSessions() {
		s.closeStream()
	}
	b.pool.closeListens()
}

// stop ends every session and the pool; no child starts after.
func (b *backend) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	for _, s := range b.liveSessions() {
		s.close("the sidecar is shutting down")
	}
	b.pool.shutdown()
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

func (b *backend) session(id string) *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions[id]
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
