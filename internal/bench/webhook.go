//go:build linux

package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// webhookBench measures `mcp-secrets webhook` as a cluster meets it: a
// real kube-apiserver (tools/kube) calls it over TLS on loopback for each
// pod created (server-side dry-run: admitted, not stored), registered by
// the example MutatingWebhookConfiguration. The same creations of pods
// without the annotation (which its matchConditions keep from the
// webhook) are the baseline; then the webhook's RSS.
func webhookBench(cfg config) ([]row, error) {
	apiserver, etcd, err := testenv.KubeBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-webhook")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	kube, err := testenv.StartKube(dir, apiserver, etcd)
	defer kube.Stop()
	if err != nil {
		return nil, err
	}
	whDir := filepath.Join(dir, "webhook") // beside the API server's own ca.crt
	if err := os.Mkdir(whDir, 0o700); err != nil {
		return nil, err
	}
	wh, url, hc, err := startWebhook(cfg.cli, whDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		wh.Process.Signal(syscall.SIGTERM)
		wh.Wait()
	}()
	if err := registerExample(kube, url, filepath.Join(whDir, "ca.crt")); err != nil {
		return nil, err
	}
	for _, obj := range []string{
		`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}`,
		`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default","namespace":"bench"}}`,
	} {
		path := "/api/v1/namespaces"
		if strings.Contains(obj, "ServiceAccount") {
			path = "/api/v1/namespaces/bench/serviceaccounts"
		}
		if code, out, err := kube.Do(http.MethodPost, path, []byte(obj)); err != nil || code != http.StatusCreated {
			return nil, fmt.Errorf("POST %s: %d %v %s", path, code, err, out)
		}
	}
	pod := func(annotations string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"agent-","annotations":` + annotations + `},
			"spec":{"containers":[{"name":"app","image":"example.com/agent:1","command":["/agent"],"env":[{"name":"TOKEN","value":"$<aws:prod/agent#token>"}]}]}}`)
	}
	create := func(body []byte) (time.Duration, error) {
		begin := time.Now()
		code, out, err := kube.Do(http.MethodPost, "/api/v1/namespaces/bench/pods?dryRun=All", body)
		if err == nil && code != http.StatusCreated {
			err = fmt.Errorf("%d %s", code, out)
		}
		return time.Since(begin), err
	}
	sidecar := pod(`{"mcp-secrets.dev/inject":"sidecar","mcp-secrets.dev/config":"agent-mcp"}`)
	// The configuration takes effect a moment after it is stored.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, out, _ := kube.Do(http.MethodPost, "/api/v1/namespaces/bench/pods?dryRun=All", sidecar)
		if strings.Contains(string(out), `"name":"mcp-secrets"`) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the webhook is not called: %s", out)
		}
	}
	const runs = 400
	measure := func(body []byte) ([]time.Duration, error) {
		var d []time.Duration
		for range runs {
			t, err := create(body)
			if err != nil {
				return nil, err
			}
			d = append(d, t)
		}
		return d, nil
	}
	var rows []row
	for _, c := range []struct{ what, annotations string }{
		{"pod create, inject: sidecar", `{"mcp-secrets.dev/inject":"sidecar","mcp-secrets.dev/config":"agent-mcp"}`},
		{"pod create, inject: exec", `{"mcp-secrets.dev/inject":"exec"}`},
		{"pod create, no annotation", `{}`},
	} {
		d, err := measure(pod(c.annotations))
		if err != nil {
			return rows, fmt.Errorf("%s: %w", c.what, err)
		}
		rows = append(rows, row{c.what + " p50", ms(percentile(d, 0.5)), fmt.Sprintf("%d dry-run creates through the API server", runs)},
			row{c.what + " p99", ms(percentile(d, 0.99)), ""})
	}
	sum, count, err := webhookCalls(kube)
	if err != nil {
		return rows, err
	}
	rows = append(rows, row{"webhook call, as the API server times it", ms(time.Duration(sum / count * float64(time.Second))),
		fmt.Sprintf("mean of %d calls (apiserver_admission_webhook_admission_duration_seconds): two per annotated pod, as the ServiceAccount plugin mounts its token into the added container and reinvocationPolicy IfNeeded calls again", int(count))})
	own, err := ownTime(hc, url)
	if err != nil {
		return rows, err
	}
	rows = append(rows, row{"review, as the webhook times it", ms(own), "mean: body read to answer written (mcp_secrets_webhook_admission_seconds)"})
	rows = append(rows, row{"webhook RSS", fmt.Sprintf("%.1f MiB", float64(rss(wh.Process.Pid))/1024), fmt.Sprintf("after %d admissions", int(count))})
	return rows, nil
}

// startWebhook starts `mcp-secrets webhook` with a certificate of a CA
// made here (dir/ca.crt), and waits for its /healthz.
func startWebhook(cli, dir string) (*exec.Cmd, string, *http.Client, error) {
	ca, err := testenv.CreateCA("bench-webhook-ca")
	if err != nil {
		return nil, "", nil, err
	}
	cert, key, err := ca.IssuePair("webhook", nil, "127.0.0.1")
	if err != nil {
		return nil, "", nil, err
	}
	for name, b := range map[string][]byte{"ca.crt": ca.PEM, "tls.crt": cert, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, "", nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(cli, "webhook", "--listen", addr, "--log-level", "warn",
		"--tls-cert-file", filepath.Join(dir, "tls.crt"), "--tls-key-file", filepath.Join(dir, "tls.key"),
		"--sidecar-image", "example.com/mcp-secrets:sidecar", "--exec-image", "example.com/mcp-secrets:launcher")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", nil, err
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := hc.Get("https://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd, "https://" + addr + "/mutate", hc, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, "", nil, fmt.Errorf("the webhook at %s is not answering after 10s", addr)
}

// registerExample registers examples/kubernetes/webhook's configuration,
// with the webhook at url and its CA in caFile.
func registerExample(kube *testenv.KubeServer, url, caFile string) error {
	b, err := os.ReadFile("examples/kubernetes/webhook/mutatingwebhook.yaml")
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	var c map[string]any
	if err := yaml.Unmarshal(b, &c); err != nil {
		return err
	}
	c["webhooks"].([]any)[0].(map[string]any)["clientConfig"] = map[string]any{"url": url, "caBundle": ca}
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	code, out, err := kube.Do(http.MethodPost, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", body)
	if err == nil && code != http.StatusCreated {
		err = fmt.Errorf("%d %s", code, out)
	}
	return err
}

// webhookCalls reads the API server's own timing of the calls to the
// webhook: the sum in seconds and the count.
func webhookCalls(kube *testenv.KubeServer) (sum, count float64, err error) {
	code, out, err := kube.Do(http.MethodGet, "/metrics", nil)
	if err != nil || code != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: %d %v", code, err)
	}
	for line := range strings.Lines(string(out)) {
		if !strings.Contains(line, `name="inject.mcp-secrets.dev"`) || !strings.Contains(line, `rejected="false"`) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_sum{"):
			sum += v
		case strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_count{"):
			count += v
		}
	}
	if count == 0 {
		return 0, 0, fmt.Errorf("the API server counted no call of the webhook")
	}
	return sum, count, nil
}

// ownTime is the webhook's mean time per review, from its /metrics.
func ownTime(hc *http.Client, mutateURL string) (time.Duration, error) {
	resp, err := hc.Get(strings.TrimSuffix(mutateURL, "/mutate") + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum, count float64
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "mcp_secrets_webhook_admission_seconds_sum "); ok {
			sum, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
		if v, ok := strings.CutPrefix(line, "mcp_secrets_webhook_admission_seconds_count "); ok {
			count, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if count == 0 {
		return 0, fmt.Errorf("the webhook counted no review")
	}
	return time.Duration(sum / count * float64(time.Second)), nil
}
