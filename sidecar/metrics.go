package sidecar

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Metrics are the sidecar's Prometheus metrics, on a registry of their own.
// Labels are provider names, server names from the config and result
// kinds: never a value, a reference or a variable name.
type Metrics struct {
	reg         *prometheus.Registry
	fetches     *prometheus.CounterVec
	fetchTime   *prometheus.HistogramVec
	resolutions *prometheus.CounterVec
	rotations   *prometheus.CounterVec
	restarts    *prometheus.CounterVec
	sessions    *prometheus.GaugeVec
	opened      *prometheus.CounterVec
	children    *prometheus.GaugeVec
	redactions  *prometheus.CounterVec
	requests    *prometheus.CounterVec
}

// NewMetrics registers the sidecar's metrics, with the Go runtime's and the
// process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_secrets_provider_fetches_total",
			Help: "Secrets fetched from a provider, by result (ok, not_found, denied, unavailable, config, malformed, error).",
		}, []string{"provider", "result"}),
		fetchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcp_secrets_provider_fetch_seconds",
			Help:    "Latency of a fetch from a provider.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9), // 0.5 ms to 33 s
		}, []string{"provider"}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_secrets_resolutions_total",
			Help: "Resolutions of every reference of a server, by result (ok, or the kind of failure as for fetches).",
		}, []string{"server", "result"}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_secrets_rotations_total",
			Help: "New values for a server's children after a secret changed.",
		}, []string{"server"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_secrets_restarts_total",
			Help: "Child restarts, by reason: rotation (with new values, the session kept) or crash (a pool child that exited).",
		}, []string{"server", "reason"}),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mcp_secrets_sessions",
			Help: "Open stateful MCP sessions.",
		}, []string{"server"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_secrets_sessions_opened_total",
			Help: "Stateful MCP sessions opened.",
		}, []string{"server"}),
		children: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mcp_secrets_children",
			Help: "Supervised children, by kind: session (one per stateful session) or pool (stateless requests).",
		}, []string{"server", "kind"}),
		redactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_secrets_redactions_total",
			Help: "Secret values replaced by [REDACTED:VAR] in what a server printed.",
		}, []string{"server"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_secrets_http_requests_total",
			Help: "HTTP requests to a server's MCP endpoint, by method and status code.",
		}, []string{"server", "method", "code"}),
	}
	m.reg.MustRegister(m.fetches, m.fetchTime, m.resolutions, m.rotations, m.restarts,
		m.sessions, m.opened, m.children, m.redactions, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
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
