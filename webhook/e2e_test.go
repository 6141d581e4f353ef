// The API server and etcd run on Linux here (testenv.Kube).

//go:build linux

package webhook

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// TestAPIServer: a real kube-apiserver calls `mcp-secrets webhook` over
// TLS, registered by the example MutatingWebhookConfiguration (only its
// clientConfig changed, to reach the webhook on loopback), and stores
// what the webhook made of each pod.
func TestAPIServer(t *testing.T) {
	kube := testenv.Kube(t)
	ca := testenv.NewCA(t, "webhook-ca")
	wh := startWebhook(t, ca)
	register(t, kube, exampleConfig(t, wh.url+"/mutate", ca.PEM))
	kube.Namespace(t, "agents", nil)
	kube.Namespace(t, "mcp-secrets", nil)
	// The configuration takes effect a moment after it is stored.
	testenv.WaitFor(t, "the webhook to be called", 30*time.Second, func() bool {
		code, out, _ := kube.Do("POST", "/api/v1/namespaces/agents/pods?dryRun=All", sidecarPod("probe"))
		return code == http.StatusCreated && len(decodePod(t, out).Spec.InitContainers) > 0
	})

	var injected *corev1.Pod
	t.Run("sidecar", func(t *testing.T) {
		p := create(t, kube, "agents", sidecarPod("agent"))
		injected = p
		sc := p.Spec.InitContainers[0]
		if sc.Name != "mcp-secrets" || sc.Image != testImages.Sidecar || sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways ||
			!slices.Contains(sc.Args, "--config=/etc/mcp-secrets/mcp.json") || sc.StartupProbe == nil || !*sc.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("the sidecar: %+v", sc)
		}
		if !slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.ConfigMap != nil && v.ConfigMap.Name == "agent-mcp" }) {
			t.Errorf("no volume of the ConfigMap: %+v", p.Spec.Volumes)
		}
		if !slices.Contains(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "MCP_SECRETS_URL", Value: "http://127.0.0.1:8000"}) {
			t.Errorf("the app's env: %+v", p.Spec.Containers[0].Env)
		}
	})

	t.Run("exec", func(t *testing.T) {
		// With the API token volume the ServiceAccount plugin adds: the
		// patch appends to what a real pod has.
		p := create(t, kube, "agents", execPod("worker", `"command":["/worker","serve"],"args":["--port","8080"],`, true))
		if p.Spec.InitContainers[0].Name != "mcp-secrets-install" || p.Spec.InitContainers[0].Image != testImages.Exec {
			t.Errorf("init containers %+v", p.Spec.InitContainers)
		}
		c := p.Spec.Containers[0]
		if want := []string{"/mcp-secrets/mcp-secrets", "run", "--fallback=off", "--", "/worker", "serve"}; !slices.Equal(c.Command, want) || !slices.Equal(c.Args, []string{"--port", "8080"}) {
			t.Errorf("command %q args %q, want %q and the args unchanged", c.Command, c.Args, want)
		}
		if len(c.VolumeMounts) != 2 || c.VolumeMounts[1].MountPath != "/mcp-secrets" || !strings.HasPrefix(c.VolumeMounts[0].Name, "kube-api-access-") {
			t.Errorf("mounts %+v", c.VolumeMounts)
		}
		if plain := p.Spec.Containers[1]; plain.Command != nil || len(plain.VolumeMounts) != 1 {
			t.Errorf("the container without references changed: %+v", plain)
		}
	})

	t.Run("deny", func(t *testing.T) {
		code, out, err := kube.Do("POST", "/api/v1/namespaces/agents/pods", execPod("nocommand", `"args":["serve"],`, false))
		msg := testenv.StatusError(out).Error()
		if err != nil || code != http.StatusBadRequest || !strings.Contains(msg, `admission webhook "inject.mcp-secrets.dev" denied the request`) ||
			!strings.Contains(msg, `container "app" has $<…> references in its env but no command`) {
			t.Errorf("%d %v: %s", code, err, msg)
		}
		// The control: the same pod with a command is created (exec above).
	})

	t.Run("untouched", func(t *testing.T) {
		plain := create(t, kube, "agents", plainPod("plain", nil))
		before := wh.admissions(t)
		// An inject annotation with no mode reaches the webhook (the
		// configuration's matchConditions look for the key), which leaves
		// the pod as it is.
		empty := create(t, kube, "agents", plainPod("empty", map[string]string{"mcp-secrets.dev/inject": ""}))
		if !reflect.DeepEqual(empty.Spec, plain.Spec) {
			t.Errorf("the pod changed:\n%+v\nwant\n%+v", empty.Spec, plain.Spec)
		}
		if got := wh.admissions(t) - before; got != 1 {
			t.Errorf("the webhook answered %d reviews, want 1 (the control: it saw the pod)", got)
		}
		// The webhook's own namespace never reaches it.
		own := create(t, kube, "mcp-secrets", sidecarPod("own"))
		if len(own.Spec.InitContainers) != 0 {
			t.Errorf("a pod of mcp-secrets was injected: %+v", own.Spec.InitContainers)
		}
		if got := wh.admissions(t) - before; got != 1 {
			t.Errorf("the webhook answered %d reviews, want still 1: it saw a pod of its own namespace", got)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		if injected == nil {
			t.Fatal("the sidecar subtest failed: no injected pod to admit again")
		}
		// Re-admission: the stored pod, created again, comes back the same.
		again := corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "agent-again", Annotations: injected.Annotations},
			Spec:       injected.Spec,
		}
		before := wh.admissions(t)
		p := create(t, kube, "agents", again)
		if !reflect.DeepEqual(p.Spec, injected.Spec) || wh.admissions(t)-before != 1 {
			t.Errorf("re-admitted:\n%+v\nwant\n%+v", p.Spec, injected.Spec)
		}
		// Reinvocation: a later webhook changes the pod, so the API server
		// calls this one again (reinvocationPolicy: IfNeeded); the second
		// call adds nothing.
		register(t, kube, relabeler(t, kube, ca))
		testenv.WaitFor(t, "the second webhook", 30*time.Second, func() bool {
			code, out, _ := kube.Do("POST", "/api/v1/namespaces/agents/pods?dryRun=All", sidecarPod("probe2"))
			return code == http.StatusCreated && decodePod(t, out).Labels["relabeled"] == "true"
		})
		before = wh.admissions(t)
		p = create(t, kube, "agents", sidecarPod("twice"))
		if got := wh.admissions(t) - before; got != 2 {
			t.Errorf("the webhook answered %d reviews, want 2 (the control: it was called again)", got)
		}
		if n := len(p.Spec.InitContainers); n != 1 || p.Labels["relabeled"] != "true" || len(p.Spec.Containers[0].Env) != 2 {
			t.Errorf("%d init containers, env %+v, labels %v", n, p.Spec.Containers[0].Env, p.Labels)
		}
	})

	t.Run("rotation", func(t *testing.T) {
		// The API server is told to trust only a new CA: the calls fail
		// (the control: the old certificate is what is served), until the
		// new CA's certificate is written where the old one was.
		ca2 := testenv.NewCA(t, "webhook-ca-2")
		cert, key := ca2.Issue(t, "webhook", nil, "127.0.0.1")
		setCABundle(t, kube, ca2.PEM)
		testenv.WaitFor(t, "the calls to fail", 30*time.Second, func() bool {
			code, out, _ := kube.Do("POST", "/api/v1/namespaces/agents/pods?dryRun=All", sidecarPod("probe3"))
			msg := testenv.StatusError(out).Error()
			return code == http.StatusInternalServerError && strings.Contains(msg, `failed calling webhook "inject.mcp-secrets.dev"`) &&
				strings.Contains(msg, "x509: certificate signed by unknown authority")
		})
		pid := wh.cmd.Process.Pid
		writeSecretVolume(t, wh.dir, map[string][]byte{"tls.crt": cert, "tls.key": key})
		testenv.WaitFor(t, "the new certificate to be served", 30*time.Second, func() bool {
			code, out, _ := kube.Do("POST", "/api/v1/namespaces/agents/pods?dryRun=All", sidecarPod("probe4"))
			return code == http.StatusCreated && len(decodePod(t, out).Spec.InitContainers) == 1
		})
		if wh.cmd.ProcessState != nil || wh.cmd.Process.Pid != pid {
			t.Errorf("the webhook was restarted: %v", wh.cmd.ProcessState)
		}
	})
}

// webhookProc is `mcp-secrets webhook`, started by the test.
type webhookProc struct {
	cmd    *exec.Cmd
	url    string
	dir    string // its certificate's Secret volume
	client *http.Client
}

func startWebhook(t *testing.T, ca *testenv.CA) *webhookProc {
	t.Helper()
	wh := &webhookProc{dir: t.TempDir()}
	cert, key := ca.Issue(t, "webhook", nil, "127.0.0.1")
	writeSecretVolume(t, wh.dir, map[string][]byte{"tls.crt": cert, "tls.key": key})
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	wh.url = "https://" + addr
	wh.cmd = exec.Command(testenv.CLI(t), "webhook", "--listen", addr,
		"--tls-cert-file", filepath.Join(wh.dir, "tls.crt"), "--tls-key-file", filepath.Join(wh.dir, "tls.key"),
		"--sidecar-image", testImages.Sidecar, "--exec-image", testImages.Exec)
	log := &testenv.Buffer{}
	wh.cmd.Stderr = log
	if err := wh.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		wh.cmd.Process.Signal(syscall.SIGTERM)
		if err := wh.cmd.Wait(); err != nil {
			t.Errorf("the webhook did not stop cleanly: %v\n%s", err, log)
		}
		if t.Failed() {
			t.Logf("webhook log:\n%s", log)
		}
	})
	wh.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsTo(ca)}}
	testenv.WaitFor(t, "the webhook's /healthz", 10*time.Second, func() bool {
		resp, err := wh.client.Get(wh.url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return wh
}

// admissions is how many reviews the webhook has answered.
func (wh *webhookProc) admissions(t *testing.T) int {
	t.Helper()
	resp, err := wh.client.Get(wh.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n int
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "mcp_secrets_webhook_admission_seconds_count ") {
			n, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "mcp_secrets_webhook_admission_seconds_count ")))
		}
	}
	return n
}

// exampleConfig is examples/kubernetes/webhook/mutatingwebhook.yaml with
// the webhook at url, trusted through caBundle.
func exampleConfig(t *testing.T, url string, caBundle []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "kubernetes", "webhook", "mutatingwebhook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatal(err)
	}
	c.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
	return &c
}

func register(t *testing.T, kube *testenv.KubeServer, c *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	kube.Create(t, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", c)
}

// setCABundle makes the API server trust only caBundle for the webhook.
func setCABundle(t *testing.T, kube *testenv.KubeServer, caBundle []byte) {
	t.Helper()
	path := "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/mcp-secrets"
	code, out, err := kube.Do("GET", path, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, code, err, out)
	}
	var c admissionregistrationv1.MutatingWebhookConfiguration
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	c.Webhooks[0].ClientConfig.CABundle = caBundle
	if code, out, err := kube.Do("PUT", path, &c); err != nil || code != http.StatusOK {
		t.Fatalf("PUT %s: %d %v %s", path, code, err, out)
	}
}

// relabeler is a second webhook, after this one (configurations are
// called in the order of their names), that labels each pod it sees once.
// It leaves with the (sub)test that made it.
func relabeler(t *testing.T, kube *testenv.KubeServer, ca *testenv.CA) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rv review
		var p corev1.Pod
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &rv) != nil || rv.Request == nil || json.Unmarshal(rv.Request.Object, &p) != nil {
			http.Error(w, "not a review", http.StatusBadRequest)
			return
		}
		resp := response{UID: rv.Request.UID, Allowed: true}
		if p.Labels["relabeled"] == "" {
			var pt patch
			if p.Labels == nil {
				pt.ops = append(pt.ops, op{"add", pointer("metadata", "labels"), map[string]string{"relabeled": "true"}})
			} else {
				pt.ops = append(pt.ops, op{"add", pointer("metadata", "labels", "relabeled"), "true"})
			}
			resp.PatchType = "JSONPatch"
			resp.Patch, _ = json.Marshal(pt.ops)
		}
		json.NewEncoder(w).Encode(review{APIVersion: reviewVersion, Kind: "AdmissionReview", Response: &resp})
	}))
	cert, key := ca.Issue(t, "relabeler", nil, "127.0.0.1")
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(func() {
		kube.Do("DELETE", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/zz-relabel", nil)
		srv.Close()
	})
	url := srv.URL + "/"
	none, fail := admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Fail
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: "zz-relabel"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "relabel.test.mcp-secrets.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca.PEM},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}
}

func tlsTo(ca *testenv.CA) *tls.Config { return &tls.Config{RootCAs: ca.Pool()} }

func create(t *testing.T, kube *testenv.KubeServer, namespace string, pod any) *corev1.Pod {
	t.Helper()
	return decodePod(t, kube.Create(t, "/api/v1/namespaces/"+namespace+"/pods", pod))
}

func decodePod(t *testing.T, b []byte) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("not a Pod: %v\n%s", err, b)
	}
	return &p
}

// The test's pods: without the API token volume unless asked, so that
// two pods' specs compare equal.

func sidecarPod(name string) []byte {
	return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","annotations":` + sidecarAnn + `},
		"spec":{"automountServiceAccountToken":false,"containers":[{"name":"app","image":"example.com/agent:1","env":[{"name":"LEVEL","value":"debug"}]}]}}`)
}

func execPod(name, commandArgs string, token bool) []byte {
	return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","annotations":` + execAnn + `},
		"spec":{"automountServiceAccountToken":` + strconv.FormatBool(token) + `,"containers":[
		{"name":"app","image":"example.com/worker:1",` + commandArgs + `"env":[{"name":"TOKEN","value":"$<aws:prod/worker#token>"}]},
		{"name":"plain","image":"example.com/plain:1"}]}}`)
}

func plainPod(name string, annotations map[string]string) []byte {
	a, _ := json.Marshal(annotations)
	return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","annotations":` + string(a) + `},
		"spec":{"automountServiceAccountToken":false,"containers":[{"name":"app","image":"example.com/agent:1","command":["/agent"],"env":[{"name":"LEVEL","value":"debug"}]}]}}`)
}
