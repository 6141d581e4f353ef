package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// testServer is a webhook serving HTTPS on loopback with a certificate of
// a CA made for the test.
type testServer struct {
	url    string
	ca     *testenv.CA
	dir    string // the certificate's Secret volume
	client *http.Client
	log    *testenv.Buffer
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{ca: testenv.NewCA(t, "webhook-ca"), dir: t.TempDir(), log: &testenv.Buffer{}}
	ts.issue(t)
	srv, err := New(Options{
		CertFile: filepath.Join(ts.dir, "tls.crt"), KeyFile: filepath.Join(ts.dir, "tls.key"),
		Images: testImages, Log: slog.New(slog.NewTextHandler(ts.log, nil)), ShutdownTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	ts.url = "https://" + ln.Addr().String()
	ts.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.ca.Pool()}}, Timeout: 10 * time.Second}
	return ts
}

// issue writes a new certificate for 127.0.0.1 and returns its serial.
func (ts *testServer) issue(t *testing.T) string {
	t.Helper()
	cert, key := ts.ca.Issue(t, "webhook", nil, "127.0.0.1")
	writeSecretVolume(t, ts.dir, map[string][]byte{"tls.crt": cert, "tls.key": key})
	return serialOf(t, cert)
}

// served is the serial of the certificate a new TLS connection gets.
func (ts *testServer) served(t *testing.T) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.url, "https://"), &tls.Config{RootCAs: ts.ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// review posts an AdmissionReview of obj and decodes the answer strictly
// into the API's own type.
func (ts *testServer) review(t *testing.T, kind string, obj []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	body := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":%q},
		"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","namespace":"agents","object":%s}}`, kind, obj)
	code, out := ts.post(t, "/mutate", body)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, out)
	}
	d := json.NewDecoder(bytes.NewReader(out))
	d.DisallowUnknownFields()
	var r admissionv1.AdmissionReview
	if err := d.Decode(&r); err != nil {
		t.Fatalf("not an AdmissionReview: %v\n%s", err, out)
	}
	if r.APIVersion != "admission.k8s.io/v1" || r.Kind != "AdmissionReview" || r.Response == nil || r.Response.UID != "u-1" {
		t.Fatalf("answer %s", out)
	}
	return r.Response
}

func (ts *testServer) post(t *testing.T, path, body string) (int, []byte) {
	t.Helper()
	resp, err := ts.client.Post(ts.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestReview(t *testing.T) {
	ts := startServer(t)

	r := ts.review(t, "Pod", podJSON(sidecarAnn, bare))
	if !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("sidecar: %+v", r)
	}
	var ops []op
	if err := json.Unmarshal(r.Patch, &ops); err != nil || len(ops) != 3 {
		t.Errorf("patch %s: %v", r.Patch, err)
	}

	r = ts.review(t, "Pod", podJSON(execAnn, `{"containers":[{"name":"app","image":"app","env":[{"name":"T","value":"$<T>"}]}]}`))
	if r.Allowed || r.Result == nil || r.Result.Code != 400 || !strings.Contains(r.Result.Message, `container "app" has $<…> references`) {
		t.Errorf("denial: %+v", r)
	}
	r = ts.review(t, "Pod", podJSON(execAnn, `{"containers":[{"name":"app","image":"app","envFrom":[{"secretRef":{"name":"s"}}]}]}`))
	if !r.Allowed || r.Patch != nil || len(r.Warnings) != 1 {
		t.Errorf("a warning: %+v", r)
	}
	for _, obj := range []string{string(podJSON("", withToken)), `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":` + sidecarAnn + `}}`} {
		kind := "Pod"
		if strings.Contains(obj, "ConfigMap") {
			kind = "ConfigMap"
		}
		if r := ts.review(t, kind, []byte(obj)); !r.Allowed || r.Patch != nil || r.PatchType != nil {
			t.Errorf("%s: %+v", kind, r)
		}
	}

	// What is not a review, and what is too big for one.
	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}`, 400, `want admission.k8s.io/v1 AdmissionReview`},
		{`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 400, "no request uid"},
		{`{"apiVersion":`, 400, "AdmissionReview: unexpected end of JSON input"},
		{`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":"` + strings.Repeat("x", maxReview) + `"}}`, 413, "request body too large"},
	} {
		if code, out := ts.post(t, "/mutate", tc.body); code != tc.code || !strings.Contains(string(out), tc.msg) {
			t.Errorf("%.60s: %d %s, want %d %s", tc.body, code, out, tc.code, tc.msg)
		}
	}
	resp, err := ts.client.Get(ts.url + "/mutate")
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /mutate: %v %v", resp.StatusCode, err)
	}
	resp, err = ts.client.Get(ts.url + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %v %v", resp.StatusCode, err)
	}

	// Each review answered is counted once, by mode and result.
	fams := ts.metrics(t)
	for labels, want := range map[[2]string]float64{
		{"sidecar", "patched"}: 1, {"exec", "denied"}: 1, {"exec", "unchanged"}: 1, {"none", "unchanged"}: 2,
	} {
		if got := counter(fams["mcp_secrets_webhook_admissions_total"], labels); got != want {
			t.Errorf("admissions %v = %v, want %v", labels, got, want)
		}
	}
	if h := fams["mcp_secrets_webhook_admission_seconds"].Metric[0].Histogram; h.GetSampleCount() != 5 {
		t.Errorf("%d admissions timed, want 5", h.GetSampleCount())
	}
}

// The certificate served is the one on disk at each handshake: a Secret
// volume's update (a "..data" swap) is served at the next connection, and
// a pair that does not match is not served while the previous one is.
func TestCertificateReload(t *testing.T) {
	ts := startServer(t)
	first := ts.served(t)
	if again := ts.served(t); again != first {
		t.Fatalf("served %s then %s with nothing changed", first, again)
	}
	second := ts.issue(t)
	if got := ts.served(t); got != second || got == first {
		t.Fatalf("after the swap: served %s, want %s (the first was %s)", got, second, first)
	}
	// A certificate with the key of another: the last good pair stays.
	cert, _ := ts.ca.Issue(t, "webhook", nil, "127.0.0.1")
	key, err := os.ReadFile(filepath.Join(ts.dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	writeSecretVolume(t, ts.dir, map[string][]byte{"tls.crt": cert, "tls.key": key})
	for range 3 {
		if got := ts.served(t); got != second {
			t.Fatalf("a mismatched pair on disk: served %s, want the previous %s", got, second)
		}
	}
	if n := strings.Count(ts.log.String(), "serving the previous certificate"); n != 1 {
		t.Errorf("the bad pair logged %d times, want once:\n%s", n, ts.log)
	}
	third := ts.issue(t)
	if got := ts.served(t); got != third {
		t.Fatalf("after the pair was fixed: served %s, want %s", got, third)
	}
	fams := ts.metrics(t)
	loads := fams["mcp_secrets_webhook_certificate_loads_total"]
	if ok, bad := counter(loads, [2]string{"ok"}), counter(loads, [2]string{"error"}); ok != 3 || bad != 1 {
		t.Errorf("certificate loads: %v ok, %v errors; want 3 and 1", ok, bad)
	}
}

func (ts *testServer) metrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := ts.client.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v", err)
	}
	return fams
}

// counter is the value of the series whose label values are labels, in
// the order the family's series name them.
func counter(f *dto.MetricFamily, labels [2]string) float64 {
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		match := true
		for i, l := range m.Label {
			match = match && l.GetValue() == labels[i]
		}
		if match {
			return m.Counter.GetValue()
		}
	}
	return 0
}
