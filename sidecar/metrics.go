package sidecar

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Metrics are the sidecar's Prometheus metrics. Labels are provider names,
// server names from the config and result kinds: never a value, a
// reference or a variable name.
type Metrics struct {
	started     time.Time
	all         []*family
	fetches     *family
	fetchTime   *family
	resolutions *family
	rotations   *family
	restarts    *family
	sessions    *family
	maxSessions *family
	opened      *family
	evicted     *family
	children    *family
	redactions  *family
	requests    *family
}

// NewMetrics makes the sidecar's metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		started:     time.Now(),
		fetches:     newFamily(counter, "mcp_secrets_provider_fetches_total", "Secrets fetched from a provider, by result (ok, not_found, denied, unavailable, config, malformed, error).", "provider", "result"),
		fetchTime:   newFamily(histogram, "mcp_secrets_provider_fetch_seconds", "Latency of a fetch from a provider.", "provider"),
		resolutions: newFamily(counter, "mcp_secrets_resolutions_total", "Resolutions of every reference of a server, by result (ok, or the kind of failure as for fetches).", "server", "result"),
		rotations:   newFamily(counter, "mcp_secrets_rotations_total", "New values for a server's children after a secret changed.", "server"),
		restarts:    newFamily(counter, "mcp_secrets_restarts_total", "Child restarts, by reason: rotation (with new values, the session kept) or crash (a pool child that exited).", "server", "reason"),
		sessions:    newFamily(gauge, "mcp_secrets_sessions", "Open stateful MCP sessions.", "server"),
		maxSessions: newFamily(gauge, "mcp_secrets_sessions_max", "The cap on stateful MCP sessions (--max-sessions): at it, the least recently used idle session is evicted, and a new one is refused when every one is busy.", "server"),
		opened:      newFamily(counter, "mcp_secrets_sessions_opened_total", "Stateful MCP sessions opened.", "server"),
		evicted:     newFamily(counter, "mcp_secrets_sessions_evicted_total", "Idle stateful MCP sessions ended to make room for a new one at --max-sessions.", "server"),
		children:    newFamily(gauge, "mcp_secrets_children", "Supervised children, by kind: session (one per stateful session) or pool (stateless requests).", "server", "kind"),
		redactions:  newFamily(counter, "mcp_secrets_redactions_total", "Secret values replaced by [REDACTED:VAR] in what a server printed.", "server"),
		requests:    newFamily(counter, "mcp_secrets_http_requests_total", "HTTP requests to a server's MCP endpoint, by method and status code.", "server", "method", "code"),
	}
	// 0.5 ms to 33 s, by fours.
	for b := 0.0005; b < 40; b *= 4 {
		m.fetchTime.buckets = append(m.fetchTime.buckets, b)
	}
	m.all = []*family{m.fetches, m.fetchTime, m.resolutions, m.rotations, m.restarts,
		m.sessions, m.maxSessions, m.opened, m.evicted, m.children, m.redactions, m.requests}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeAll(w, m.all, m.started)
	})
}

// Resolution counts one resolution of a server's references.
func (m *Metrics) Resolution(server string, err error) {
	m.resolutions.WithLabelValues(server, result(err)).Inc()
}

// Providers returns ps with every fetch counted and timed. A provider keeps
// its providers.Configurer, which the fallback rules and the cache look for.
func (m *Metrics) Providers(ps map[string]providers.Provider) map[string]providers.Provider {
	out := make(map[string]providers.Provider, len(ps))
	for name, p := range ps {
		c := counted{name, p, m}
		if conf, ok := p.(providers.Configurer); ok {
			out[name] = countedConf{c, conf}
		} else {
			out[name] = c
		}
	}
	return out
}

type counted struct {
	name string
	p    providers.Provider
	m    *Metrics
}

func (c counted) Fetch(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	start := time.Now()
	s, err := c.p.Fetch(ctx, ref)
	c.m.fetchTime.WithLabelValues(c.name).Observe(time.Since(start).Seconds())
	c.m.fetches.WithLabelValues(c.name, result(err)).Inc()
	return s, err
}

type countedConf struct {
	counted
	conf providers.Configurer
}

func (c countedConf) Configured() bool { return c.conf.Configured() }

// result is an error's kind as a label value.
func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, providers.ErrMalformed):
		return "malformed"
	case errors.Is(err, providers.ErrDenied):
		return "denied"
	case errors.Is(err, providers.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, providers.ErrNotFound):
		return "not_found"
	case errors.Is(err, providers.ErrConfig):
		return "config"
	}
	return "error"
}
