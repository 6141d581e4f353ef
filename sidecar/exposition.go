package sidecar

import (
	"bufio"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The metrics are written in the Prometheus text format (version 0.0.4)
// by this small registry rather than client_golang: linking that package
// (its global registry, Go and process collectors, protobuf) makes every
// start of the binary — every `mcp-secrets run` of an MCP server — about
// 2 ms slower, for a dozen counters that only serve uses.

type metricType string

const (
	counter   metricType = "counter"
	gauge     metricType = "gauge"
	histogram metricType = "histogram"
)

// family is one metric and its series, by label values.
type family struct {
	name, help string
	typ        metricType
	labels     []string
	buckets    []float64 // upper bounds, for a histogram
	mu         sync.Mutex
	series     map[string]*series
}

type series struct {
	values []string
	v      float64  // counter or gauge
	counts []uint64 // per bucket (not cumulative), histogram
	sum    float64
	n      uint64
}

func newFamily(typ metricType, name, help string, labels ...string) *family {
	return &family{name: name, help: help, typ: typ, labels: labels, series: map[string]*series{}}
}

// WithLabelValues is the series with these label values, in the order of
// the family's labels.
func (f *family) WithLabelValues(values ...string) sample {
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.series[key]
	if s == nil {
		s = &series{values: slices.Clone(values), counts: make([]uint64, len(f.buckets)+1)}
		f.series[key] = s
	}
	return sample{f, s}
}

// sample is one series, to update.
type sample struct {
	f *family
	s *series
}

func (x sample) Add(v float64) {
	x.f.mu.Lock()
	x.s.v += v
	x.f.mu.Unlock()
}

func (x sample) Inc() { x.Add(1) }
func (x sample) Dec() { x.Add(-1) }

// Observe records one value of a histogram.
func (x sample) Observe(v float64) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	i, _ := slices.BinarySearch(x.f.buckets, v)
	x.s.counts[i]++
	x.s.sum += v
	x.s.n++
}

// write writes the family in the text format: label names sorted, series
// sorted, histogram buckets cumulative.
func (f *family) write(w *bufio.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.WriteString("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
	w.WriteString("# TYPE " + f.name + " " + string(f.typ) + "\n")
	keys := make([]string, 0, len(f.series))
	for k := range f.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := f.series[k]
		if f.typ != histogram {
			writeSample(w, f.name, f.labels, s.values, "", "", s.v)
			continue
		}
		var cum uint64
		for i, b := range f.buckets {
			cum += s.counts[i]
			writeSample(w, f.name+"_bucket", f.labels, s.values, "le", formatFloat(b), float64(cum))
		}
		writeSample(w, f.name+"_bucket", f.labels, s.values, "le", "+Inf", float64(s.n))
		writeSample(w, f.name+"_sum", f.labels, s.values, "", "", s.sum)
		writeSample(w, f.name+"_count", f.labels, s.values, "", "", float64(s.n))
	}
}

func writeSample(w *bufio.Writer, name string, labels, values []string, extra, extraValue string, v float64) {
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(labels)+1)
	for i, l := range labels {
		pairs = append(pairs, pair{l, values[i]})
	}
	slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.k, b.k) })
	if extra != "" {
		pairs = append(pairs, pair{extra, extraValue}) // le goes last, as Prometheus writes it
	}
	w.WriteString(name)
	if len(pairs) > 0 {
		w.WriteByte('{')
		for i, p := range pairs {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(p.k + `="` + escapeLabel(p.v) + `"`)
		}
		w.WriteByte('}')
	}
	w.WriteString(" " + formatFloat(v) + "\n")
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escapeLabel escapes a label value: backslash, double quote and newline.
func escapeLabel(s string) string { return escape(s, true) }

// escapeHelp escapes a help text: backslash and newline.
func escapeHelp(s string) string { return escape(s, false) }

func escape(s string, quote bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// writeProcess writes the few Go and process metrics an operator looks at
// first, under the names client_golang's collectors give them.
func writeProcess(w *bufio.Writer, started time.Time) {
	one := func(typ metricType, name, help string, v float64) {
		f := newFamily(typ, name, help)
		f.WithLabelValues().Add(v)
		f.write(w)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	one(gauge, "go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	one(gauge, "go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", float64(ms.HeapAlloc))
	if cpu, ok := cpuTime(); ok {
		one(counter, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", cpu.Seconds())
	}
	if rss, ok := residentBytes(); ok {
		one(gauge, "process_resident_memory_bytes", "Resident memory size in bytes.", float64(rss))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		one(gauge, "process_open_fds", "Number of open file descriptors.", float64(len(fds)))
	}
	one(gauge, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", float64(started.UnixNano())/1e9)
}

// residentBytes reads the resident set size from /proc/self/statm.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()), err == nil
}

// writeAll writes every family, then the process metrics.
func writeAll(out io.Writer, fams []*family, started time.Time) error {
	w := bufio.NewWriter(out)
	for _, f := range fams {
		f.write(w)
	}
	writeProcess(w, started)
	return w.Flush()
}
