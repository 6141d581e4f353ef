// The manifests decode strictly into the Kubernetes API's own types, so a
// misspelt or misplaced field fails the build; and they say what the
// README promises of them.
package kubernetes_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/mcp-secrets/mcp-secrets/sidecar"
)

type manifests struct {
	deployment     *appsv1.Deployment
	configMap      *corev1.ConfigMap
	serviceAccount *corev1.ServiceAccount
	networkPolicy  *networkingv1.NetworkPolicy
}

// load decodes every document of every .yaml file here, strictly.
func load(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var m manifests
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s #%d: %v", file, i, err)
			}
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				m.deployment = &appsv1.Deployment{}
				obj = m.deployment
			case "v1 ConfigMap":
				m.configMap = &corev1.ConfigMap{}
				obj = m.configMap
			case "v1 ServiceAccount":
				m.serviceAccount = &corev1.ServiceAccount{}
				obj = m.serviceAccount
			case "networking.k8s.io/v1 NetworkPolicy":
				m.networkPolicy = &networkingv1.NetworkPolicy{}
				obj = m.networkPolicy
			case "monitoring.coreos.com/v1 PrometheusRule":
				continue // monitoring_test.go
			default:
				t.Fatalf("%s #%d: unexpected %s %s", file, i, head.APIVersion, head.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s #%d (%s): %v", file, i, head.Kind, err)
			}
		}
	}
	if m.deployment == nil || m.configMap == nil || m.serviceAccount == nil || m.networkPolicy == nil {
		t.Fatalf("missing manifests: %+v", m)
	}
	return m
}

func TestSidecar(t *testing.T) {
	m := load(t)
	pod := m.deployment.Spec.Template
	if len(pod.Spec.InitContainers) != 1 {
		t.Fatalf("%d init containers, want the sidecar", len(pod.Spec.InitContainers))
	}
	sc := pod.Spec.InitContainers[0]
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Error("the sidecar is not a native sidecar (restartPolicy: Always)")
	}
	if sc.Args[0] != "serve" || !slices.Contains(sc.Args, "--listen=127.0.0.1:8000") {
		t.Errorf("args %v: want serve on 127.0.0.1:8000", sc.Args)
	}
	for probe, want := range map[*corev1.Probe]string{sc.StartupProbe: "/healthz", sc.LivenessProbe: "/healthz", sc.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "admin" {
			t.Errorf("a probe is not GET %s on the admin port: %+v", want, probe)
		}
	}
	if !slices.Contains(sc.Args, "--admin-listen=:9090") || sc.Ports[0].Name != "admin" || sc.Ports[0].ContainerPort != 9090 {
		t.Errorf("the admin port: args %v, ports %+v", sc.Args, sc.Ports)
	}
	if pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot {
		t.Error("the pod may run as root")
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		s := c.SecurityContext
		if s == nil || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem || s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation {
			t.Errorf("%s: not a read-only root, or may escalate", c.Name)
		}
	}
	// The config the sidecar reads is the ConfigMap's, and it is valid.
	var config string
	for _, a := range sc.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			config = v
		}
	}
	mounted := false
	for _, vm := range sc.VolumeMounts {
		for _, v := range pod.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name && filepath.Dir(config) == vm.MountPath {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("--config=%s is not in the ConfigMap %s", config, m.configMap.Name)
	}
	cfg, err := sidecar.ParseConfig("mcp.json", []byte(m.configMap.Data[filepath.Base(config)]))
	if err != nil {
		t.Fatal(err)
	}
	// The image installs every server the config runs.
	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(dockerfile, []byte(" AS sidecar")) {
		t.Error("the Dockerfile has no sidecar stage")
	}
	for _, s := range cfg.Servers {
		pkg, ok := strings.CutPrefix(s.Command, "mcp-server-")
		if !ok || !bytes.Contains(dockerfile, []byte("@modelcontextprotocol/server-"+pkg+"@")) {
			t.Errorf("server %s: the sidecar image does not install %s", s.Name, s.Command)
		}
	}
}

// Cloud credentials reach the sidecar only.
func TestIdentity(t *testing.T) {
	m := load(t)
	sa := m.serviceAccount.Annotations
	if !strings.HasPrefix(sa["eks.amazonaws.com/role-arn"], "arn:aws:iam::") || sa["azure.workload.identity/client-id"] == "" {
		t.Errorf("the ServiceAccount is not annotated for IRSA and Azure workload identity: %v", sa)
	}
	pod := m.deployment.Spec.Template
	if pod.Spec.ServiceAccountName != m.serviceAccount.Name || pod.Labels["azure.workload.identity/use"] != "true" {
		t.Error("the pod does not use the ServiceAccount's identities")
	}
	agent := pod.Spec.Containers[0].Name
	for _, a := range []string{"eks.amazonaws.com/skip-containers", "azure.workload.identity/skip-containers"} {
		if pod.Annotations[a] != agent {
			t.Errorf("%s = %q: the webhook gives the agent credentials", a, pod.Annotations[a])
		}
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the agent gets a Kubernetes API token")
	}
}

// In: nothing on the MCP port; out: DNS, HTTPS and the database only.
func TestNetworkPolicy(t *testing.T) {
	m := load(t)
	np := m.networkPolicy.Spec
	if !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Fatalf("policy types %v", np.PolicyTypes)
	}
	for k, v := range np.PodSelector.MatchLabels {
		if m.deployment.Spec.Template.Labels[k] != v {
			t.Errorf("the policy does not select the agent's pods (%s=%s)", k, v)
		}
	}
	for _, r := range np.Ingress {
		for _, p := range r.Ports {
			if p.Port.IntValue() == 8000 {
				t.Error("the MCP port is open to other pods")
			}
		}
	}
	var out []int
	for _, r := range np.Egress {
		for _, p := range r.Ports {
			out = append(out, p.Port.IntValue())
		}
	}
	slices.Sort(out)
	if want := []int{53, 53, 443, 5432}; !slices.Equal(out, want) {
		t.Errorf("egress ports %v, want %v", out, want)
	}
}
