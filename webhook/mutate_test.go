package webhook

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

var testImages = Images{Sidecar: "example.com/mcp-secrets:sidecar", Exec: "example.com/mcp-secrets:launcher"}

// podJSON is a pod as the API server sends it to the webhook, with
// annotations and spec given as JSON.
func podJSON(annotations, spec string) []byte {
	if annotations == "" {
		annotations = "{}"
	}
	return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"agent-","namespace":"agents","annotations":` + annotations + `},"spec":` + spec + `}`)
}

const (
	sidecarAnn = `{"mcp-secrets.dev/inject":"sidecar","mcp-secrets.dev/config":"agent-mcp"}`
	execAnn    = `{"mcp-secrets.dev/inject":"exec"}`
	// What the ServiceAccount admission plugin leaves: a volume, a mount.
	withToken = `{"containers":[{"name":"app","image":"app","command":["/app"],"args":["--port","8080"],
		"env":[{"name":"TOKEN","value":"$<aws:prod/app#token>"},{"name":"LEVEL","value":"debug"}],
		"volumeMounts":[{"name":"kube-api-access","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true}]},
		{"name":"plain","image":"plain","volumeMounts":[{"name":"kube-api-access","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true}]}],
		"initContainers":[{"name":"migrate","image":"app","command":["/migrate"],"env":[{"name":"DB","value":"postgres://u:$<vault:db#pw>@db/app"}]}],
		"volumes":[{"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"path":"token"}}]}}]}`
	bare = `{"containers":[{"name":"app","image":"app","command":["/app"],"env":[{"name":"TOKEN","value":"$<TOKEN>"}]}]}`
)

// Every admission: the operations (op and path) of the minimal patch, or
// the denial; then what the patch makes of the pod is a valid Pod, and a
// second admission of it changes nothing.
func TestMutate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pod     []byte
		want    []string // "op path"
		deny    string   // a part of the denial
		warning string
	}{
		{name: "no annotation", pod: podJSON("", withToken)},
		{name: "another annotation", pod: podJSON(`{"mcp-secrets.dev/config":"x","other":"sidecar"}`, withToken)},
		{name: "sidecar on a bare pod", pod: podJSON(sidecarAnn, bare), want: []string{
			"add /spec/volumes", "add /spec/containers/0/env/-", "add /spec/initContainers",
		}},
		{name: "sidecar beside what is there", pod: podJSON(sidecarAnn, withToken), want: []string{
			"add /spec/volumes/-", "add /spec/volumes/-",
			"add /spec/containers/0/env/-", "add /spec/containers/1/env",
			"add /spec/initContainers/0",
		}},
		{name: "sidecar: the app's own MCP_SECRETS_URL stays", pod: podJSON(sidecarAnn,
			`{"containers":[{"name":"app","image":"app","env":[{"name":"MCP_SECRETS_URL","value":"http://127.0.0.1:9000"}]}]}`),
			want: []string{"add /spec/volumes", "add /spec/initContainers"}},
		{name: "sidecar without a config", pod: podJSON(`{"mcp-secrets.dev/inject":"sidecar"}`, bare), deny: `sidecar needs mcp-secrets.dev/config: the name of a ConfigMap with mcp.json (got "")`},
		{name: "sidecar with a bad config name", pod: podJSON(`{"mcp-secrets.dev/inject":"sidecar","mcp-secrets.dev/config":"Agent_MCP"}`, bare), deny: `(got "Agent_MCP")`},
		{name: "an unknown mode", pod: podJSON(`{"mcp-secrets.dev/inject":"yes"}`, bare), deny: `mcp-secrets.dev/inject: "yes": want sidecar or exec`},
		{name: "exec on a bare pod", pod: podJSON(execAnn, bare), want: []string{
			"replace /spec/containers/0/command", "add /spec/containers/0/volumeMounts",
			"add /spec/volumes", "add /spec/initContainers",
		}},
		{name: "exec: init containers too, the install first", pod: podJSON(execAnn, withToken), want: []string{
			"replace /spec/initContainers/0/command", "add /spec/initContainers/0/volumeMounts",
			"replace /spec/containers/0/command", "add /spec/containers/0/volumeMounts/-",
			"add /spec/volumes/-", "add /spec/initContainers/0",
		}},
		{name: "exec: no references, nothing to do", pod: podJSON(execAnn,
			`{"containers":[{"name":"app","image":"app","env":[{"name":"A","value":"$(B) costs $5"}]}]}`)},
		{name: "exec: envFrom is not seen", pod: podJSON(execAnn,
			`{"containers":[{"name":"app","image":"app","envFrom":[{"configMapRef":{"name":"refs"}}]}]}`),
			warning: `container "app": references in envFrom are not seen by the webhook`},
		{name: "exec: references and no command", pod: podJSON(execAnn,
			`{"containers":[{"name":"app","image":"app","args":["serve"],"env":[{"name":"T","value":"$<T>"}]},{"name":"ok","image":"x","command":["/x"],"env":[{"name":"T","value":"$<T>"}]}]}`),
			deny: `mcp-secrets.dev/inject: exec: container "app" has $<…> references in its env but no command in the pod spec`},
		{name: "exec: an empty command is none", pod: podJSON(execAnn,
			`{"containers":[{"name":"a","image":"a","command":[],"env":[{"name":"T","value":"$<T>"}]},{"name":"b","image":"b","env":[{"name":"T","value":"x$<T>"}]}]}`),
			deny: `containers "a", "b" have $<…> references`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := testImages.mutate(tc.pod)
			if tc.deny != "" {
				if err == nil || !strings.Contains(err.Error(), tc.deny) {
					t.Fatalf("got %v, want a denial with %q", err, tc.deny)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range m.ops {
				got = append(got, o.Op+" "+o.Path)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("operations:\n  %q\nwant\n  %q", got, tc.want)
			}
			if tc.warning != "" && !slices.ContainsFunc(m.warnings, func(w string) bool { return strings.Contains(w, tc.warning) }) {
				t.Errorf("warnings %q, want %q", m.warnings, tc.warning)
			}
			out, err := applyPatch(tc.pod, m.ops)
			if err != nil {
				t.Fatalf("the patch does not apply: %v", err)
			}
			strictPod(t, out)
			again, err := testImages.mutate(out)
			if err != nil || len(again.ops) > 0 {
				t.Errorf("a second admission: %v, %+v", err, again.ops)
			}
		})
	}
}

// The sidecar one annotation adds is the one examples/kubernetes writes by
// hand: the same serve, probes, resources, and a root filesystem it cannot
// write; and the app gets its address.
func TestSidecarIsTheExample(t *testing.T) {
	pod := mutated(t, podJSON(sidecarAnn, bare))
	sc := pod.Spec.InitContainers[0]
	ex := exampleSidecar(t)
	if sc.Name != ex.Name || sc.Image != testImages.Sidecar || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("name %s, image %s, restartPolicy %v", sc.Name, sc.Image, *sc.RestartPolicy)
	}
	for _, arg := range []string{"serve", "--config=/etc/mcp-secrets/mcp.json", "--listen=127.0.0.1:8000", "--admin-listen=:9090", "--log-format=json"} {
		if !slices.Contains(sc.Args, arg) || !slices.Contains(ex.Args, arg) {
			t.Errorf("%s: injected %v, example %v", arg, sc.Args, ex.Args)
		}
	}
	if !reflect.DeepEqual(sc.Resources, ex.Resources) {
		t.Errorf("resources %+v, the example's %+v", sc.Resources, ex.Resources)
	}
	// The probes, on the admin port whatever its name.
	onPort := func(c corev1.Container, p *corev1.Probe) corev1.Probe {
		q := *p.DeepCopy()
		for _, port := range c.Ports {
			if port.Name == q.HTTPGet.Port.StrVal {
				q.HTTPGet.Port = intstr.FromInt32(port.ContainerPort)
			}
		}
		return q
	}
	for _, p := range [][2]*corev1.Probe{{sc.StartupProbe, ex.StartupProbe}, {sc.LivenessProbe, ex.LivenessProbe}, {sc.ReadinessProbe, ex.ReadinessProbe}} {
		if got, want := onPort(sc, p[0]), onPort(ex, p[1]); !reflect.DeepEqual(got, want) {
			t.Errorf("probe %+v, the example's %+v", got, want)
		}
	}
	// The example's container hardening, and what its pod adds.
	s := sc.SecurityContext
	if !*s.ReadOnlyRootFilesystem || *s.AllowPrivilegeEscalation || !reflect.DeepEqual(s.Capabilities, ex.SecurityContext.Capabilities) ||
		!*s.RunAsNonRoot || s.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("securityContext %+v", s)
	}
	mounts := func(c corev1.Container) map[string]bool {
		m := map[string]bool{}
		for _, vm := range c.VolumeMounts {
			m[vm.MountPath] = vm.ReadOnly
		}
		return m
	}
	if !reflect.DeepEqual(mounts(sc), mounts(ex)) {
		t.Errorf("mounts %v, the example's %v", mounts(sc), mounts(ex))
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil && v.ConfigMap.Name != "agent-mcp":
			t.Errorf("volume %s: ConfigMap %s, want the annotation's", v.Name, v.ConfigMap.Name)
		case v.EmptyDir != nil && v.EmptyDir.SizeLimit.String() != "256Mi":
			t.Errorf("volume %s: %v", v.Name, v.EmptyDir.SizeLimit)
		}
	}
	if env := pod.Spec.Containers[0].Env; env[len(env)-1] != (corev1.EnvVar{Name: "MCP_SECRETS_URL", Value: "http://127.0.0.1:8000"}) {
		t.Errorf("app env %+v", env)
	}
}

// The wrapped command runs the original one through run; its args, env
// and everything else stay.
func TestExecWraps(t *testing.T) {
	in := strictPod(t, podJSON(execAnn, withToken))
	pod := mutated(t, podJSON(execAnn, withToken))
	if pod.Spec.InitContainers[0].Name != "mcp-secrets-install" || pod.Spec.InitContainers[0].Image != testImages.Exec ||
		!slices.Equal(pod.Spec.InitContainers[0].Args, []string{"webhook", "install", "/mcp-secrets"}) {
		t.Errorf("the install container: %+v", pod.Spec.InitContainers[0])
	}
	for _, c := range []struct{ got, in corev1.Container }{
		{pod.Spec.InitContainers[1], in.Spec.InitContainers[0]},
		{pod.Spec.Containers[0], in.Spec.Containers[0]},
	} {
		want := append([]string{"/mcp-secrets/mcp-secrets", "run", "--fallback=off", "--"}, c.in.Command...)
		if !slices.Equal(c.got.Command, want) || !slices.Equal(c.got.Args, c.in.Args) || !reflect.DeepEqual(c.got.Env, c.in.Env) {
			t.Errorf("%s: command %q args %q, want %q %q", c.got.Name, c.got.Command, c.got.Args, want, c.in.Args)
		}
		last := c.got.VolumeMounts[len(c.got.VolumeMounts)-1]
		if last.Name != "mcp-secrets-bin" || last.MountPath != "/mcp-secrets" || !last.ReadOnly {
			t.Errorf("%s: mounts %+v", c.got.Name, c.got.VolumeMounts)
		}
	}
	if !reflect.DeepEqual(pod.Spec.Containers[1], in.Spec.Containers[1]) {
		t.Errorf("the container without references changed: %+v", pod.Spec.Containers[1])
	}
}

// mutated is the pod after its admission's patch, as the API's Pod.
func mutated(t *testing.T, raw []byte) *corev1.Pod {
	t.Helper()
	m, err := testImages.mutate(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := applyPatch(raw, m.ops)
	if err != nil {
		t.Fatal(err)
	}
	return strictPod(t, out)
}

// exampleSidecar is the sidecar of examples/kubernetes/deployment.yaml.
func exampleSidecar(t *testing.T) corev1.Container {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "kubernetes", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, c := range d.Spec.Template.Spec.InitContainers {
		if c.Name == "mcp-secrets" {
			return c
		}
	}
	t.Fatal("the example has no mcp-secrets sidecar")
	return corev1.Container{}
}
