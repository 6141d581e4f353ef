package sidecar

import (
	"errors"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// The exposition parses with Prometheus' own text parser, with the types,
// labels and values that were recorded.
func TestExposition(t *testing.T) {
	m := NewMetrics()
	m.fetches.WithLabelValues("aws", "ok").Inc()
	m.fetches.WithLabelValues("aws", "ok").Inc()
	m.fetches.WithLabelValues("vault", result(providers.ErrDenied)).Inc()
	m.fetchTime.WithLabelValues("aws").Observe(0.0003)
	m.fetchTime.WithLabelValues("aws").Observe(0.004)
	m.fetchTime.WithLabelValues("aws").Observe(100)
	m.sessions.WithLabelValues(`we"ird\name`).Inc()
	m.sessions.WithLabelValues(`we"ird\name`).Dec()
	m.sessions.WithLabelValues(`we"ird\name`).Inc()
	m.restarts.WithLabelValues("env", "rotation").Add(3)
	m.Resolution("env", errors.New("boom"))

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s", name)
		}
	next:
		for _, mt := range f.Metric {
			for _, l := range mt.Label {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if len(mt.Label) != len(labels) {
				continue
			}
			switch {
			case mt.Counter != nil:
				return mt.Counter.GetValue()
			case mt.Gauge != nil:
				return mt.Gauge.GetValue()
			case mt.Histogram != nil:
				return float64(mt.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mcp_secrets_provider_fetches_total", map[string]string{"provider": "aws", "result": "ok"}, 2},
		{"mcp_secrets_provider_fetches_total", map[string]string{"provider": "vault", "result": "denied"}, 1},
		{"mcp_secrets_provider_fetch_seconds", map[string]string{"provider": "aws"}, 3},
		{"mcp_secrets_sessions", map[string]string{"server": `we"ird\name`}, 1},
		{"mcp_secrets_restarts_total", map[string]string{"server": "env", "reason": "rotation"}, 3},
		{"mcp_secrets_resolutions_total", map[string]string{"server": "env", "result": "error"}, 1},
	} {
		if got := value(tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	h := fams["mcp_secrets_provider_fetch_seconds"].Metric[0].Histogram
	n := len(h.Bucket)
	if math.Abs(h.GetSampleSum()-100.0043) > 1e-9 || h.Bucket[0].GetCumulativeCount() != 1 ||
		h.Bucket[n-2].GetCumulativeCount() != 2 || !math.IsInf(h.Bucket[n-1].GetUpperBound(), 1) || h.Bucket[n-1].GetCumulativeCount() != 3 {
		t.Errorf("histogram %v", h)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if got := fams["mcp_secrets_provider_fetch_seconds"].GetType().String(); got != "HISTOGRAM" {
		t.Errorf("fetch_seconds is a %s", got)
	}
}
