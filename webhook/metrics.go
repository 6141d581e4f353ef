package webhook

import (
	"bufio"
	"cmp"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// metrics are the webhook's few series, written in the Prometheus text
// format by hand for the reason sidecar/exposition.go gives: client_golang
// would slow every start of the binary. Labels are fixed words, never a
// pod's or a namespace's name.
type metrics struct {
	mu         sync.Mutex
	admissions map[[2]string]uint64 // by mode, result
	buckets    []float64            // upper bounds of admission seconds
	counts     []uint64             // per bucket, then +Inf
	sum        float64
	loads      map[string]uint64 // certificate loads by result
	notAfter   time.Time
}

func newMetrics() *metrics {
	m := &metrics{admissions: map[[2]string]uint64{}, loads: map[string]uint64{}}
	// 0.1 ms to 1.6 s, by fours: an admission is a decode and a few appends.
	for b := 0.0001; b < 2; b *= 4 {
		m.buckets = append(m.buckets, b)
	}
	m.counts = make([]uint64, len(m.buckets)+1)
	return m
}

// admission counts one answered review: mode is sidecar, exec or none,
// result patched, unchanged or denied.
func (m *metrics) admission(mode, result string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.admissions[[2]string{mode, result}]++
	i, _ := slices.BinarySearch(m.buckets, d.Seconds())
	m.counts[i]++
	m.sum += d.Seconds()
}

func (m *metrics) certificateLoad(leaf *x509.Certificate, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.loads["error"]++
		return
	}
	m.loads["ok"]++
	m.notAfter = leaf.NotAfter
}

func (m *metrics) write(out io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := bufio.NewWriter(out)
	head := func(name, typ, help string) { fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ) }
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

	head("mcp_secrets_webhook_admissions_total", "counter", "Pod admissions answered, by mode (sidecar, exec, none) and result (patched, unchanged, denied).")
	keys := slices.SortedFunc(maps.Keys(m.admissions), func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
	for _, k := range keys {
		fmt.Fprintf(w, "mcp_secrets_webhook_admissions_total{mode=%q,result=%q} %d\n", k[0], k[1], m.admissions[k])
	}
	head("mcp_secrets_webhook_admission_seconds", "histogram", "Time to answer an AdmissionReview, from its body read to its answer written.")
	var cum uint64
	for i, b := range m.buckets {
		cum += m.counts[i]
		fmt.Fprintf(w, "mcp_secrets_webhook_admission_seconds_bucket{le=%q} %d\n", num(b), cum)
	}
	cum += m.counts[len(m.buckets)]
	fmt.Fprintf(w, "mcp_secrets_webhook_admission_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(w, "mcp_secrets_webhook_admission_seconds_sum %s\n", num(m.sum))
	fmt.Fprintf(w, "mcp_secrets_webhook_admission_seconds_count %d\n", cum)
	head("mcp_secrets_webhook_certificate_loads_total", "counter", "Reads of the serving certificate and key, at start and after they changed on disk, by result (ok, error).")
	for _, r := range slices.Sorted(maps.Keys(m.loads)) {
		fmt.Fprintf(w, "mcp_secrets_webhook_certificate_loads_total{result=%q} %d\n", r, m.loads[r])
	}
	head("mcp_secrets_webhook_certificate_expiry_timestamp_seconds", "gauge", "NotAfter of the certificate served, in seconds since the Unix epoch.")
	fmt.Fprintf(w, "mcp_secrets_webhook_certificate_expiry_timestamp_seconds %d\n", m.notAfter.Unix())
	return w.Flush()
}
