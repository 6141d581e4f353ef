package kubernetes_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// webhookManifests are the documents of webhook/, the API's kinds decoded
// strictly into its own types, cert-manager's by name.
type webhookManifests struct {
	deployment     *appsv1.Deployment
	service        *corev1.Service
	serviceAccount *corev1.ServiceAccount
	namespace      *corev1.Namespace
	pdb            *policyv1.PodDisruptionBudget
	config         *admissionregistrationv1.MutatingWebhookConfiguration
	certManager    map[string]map[string]any // "Kind/name" -> the object
}

func loadWebhook(t *testing.T) webhookManifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("webhook", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	m := webhookManifests{certManager: map[string]map[string]any{}}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			var head struct {
				APIVersion, Kind string
				Metadata         struct{ Name string }
			}
			if err := yaml.Unmarshal([]byte(d), &head); err != nil {
				t.Fatalf("%s #%d: %v", file, i, err)
			}
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				m.deployment = &appsv1.Deployment{}
				obj = m.deployment
			case "v1 Service":
				m.service = &corev1.Service{}
				obj = m.service
			case "v1 ServiceAccount":
				m.serviceAccount = &corev1.ServiceAccount{}
				obj = m.serviceAccount
			case "v1 Namespace":
				m.namespace = &corev1.Namespace{}
				obj = m.namespace
			case "policy/v1 PodDisruptionBudget":
				m.pdb = &policyv1.PodDisruptionBudget{}
				obj = m.pdb
			case "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration":
				m.config = &admissionregistrationv1.MutatingWebhookConfiguration{}
				obj = m.config
			case "cert-manager.io/v1 Certificate", "cert-manager.io/v1 Issuer":
				var o map[string]any
				if err := yaml.Unmarshal([]byte(d), &o); err != nil {
					t.Fatalf("%s #%d: %v", file, i, err)
				}
				m.certManager[head.Kind+"/"+head.Metadata.Name] = o
				continue
			default:
				// No Role, ClusterRole or binding: the webhook reads nothing
				// from the API.
				t.Fatalf("%s #%d: unexpected %s %s", file, i, head.APIVersion, head.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(d), obj); err != nil {
				t.Fatalf("%s #%d (%s): %v", file, i, head.Kind, err)
			}
		}
	}
	if m.deployment == nil || m.service == nil || m.serviceAccount == nil || m.namespace == nil || m.pdb == nil || m.config == nil {
		t.Fatalf("missing manifests: %+v", m)
	}
	return m
}

// The webhook's manifests fit together, and say what the README promises.
func TestWebhook(t *testing.T) {
	m := loadWebhook(t)
	d := m.deployment
	ns := m.namespace.Name
	pod := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 || !*pod.SecurityContext.RunAsNonRoot || *pod.AutomountServiceAccountToken || pod.ServiceAccountName != m.serviceAccount.Name {
		t.Errorf("deployment: %d replicas, runAsNonRoot %v, token %v, serviceAccount %s", *d.Spec.Replicas, *pod.SecurityContext.RunAsNonRoot, *pod.AutomountServiceAccountToken, pod.ServiceAccountName)
	}
	c := pod.Containers[0]
	if s := c.SecurityContext; !*s.ReadOnlyRootFilesystem || *s.AllowPrivilegeEscalation || !slices.Contains(s.Capabilities.Drop, "ALL") {
		t.Errorf("the webhook container may write its root or escalate: %+v", s)
	}
	if c.Args[0] != "webhook" {
		t.Errorf("args %v", c.Args)
	}
	flag := func(name string) string {
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v
			}
		}
		t.Errorf("no --%s", name)
		return ""
	}
	// The certificate files are in the Secret cert-manager keeps current.
	var secret string
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.Secret != nil && filepath.Dir(flag("tls-cert-file")) == vm.MountPath && filepath.Dir(flag("tls-key-file")) == vm.MountPath {
				secret = v.Secret.SecretName
			}
		}
	}
	serving := m.certManager["Certificate/mcp-secrets-webhook"]
	if serving == nil || secret == "" || dig(serving, "spec", "secretName") != secret {
		t.Errorf("the certificate files are not in the serving Certificate's Secret (%q)", secret)
	}
	svcDNS := m.service.Name + "." + ns + ".svc"
	if names, _ := dig(serving, "spec", "dnsNames").([]any); !slices.Contains(names, any(svcDNS)) {
		t.Errorf("the serving Certificate is not for %s: %v", svcDNS, names)
	}
	// Its issuer is a CA of the webhook's own, which the API server trusts.
	issuer := m.certManager["Issuer/"+dig(serving, "spec", "issuerRef", "name").(string)]
	ca := m.certManager["Certificate/mcp-secrets-webhook-ca"]
	if issuer == nil || ca == nil || dig(issuer, "spec", "ca", "secretName") != dig(ca, "spec", "secretName") || dig(ca, "spec", "isCA") != true ||
		m.certManager["Issuer/"+dig(ca, "spec", "issuerRef", "name").(string)] == nil {
		t.Errorf("the serving Certificate's issuer is not the webhook's CA: %v, %v", issuer, ca)
	}
	if got := m.config.Annotations["cert-manager.io/inject-ca-from"]; got != ns+"/mcp-secrets-webhook" {
		t.Errorf("inject-ca-from %q", got)
	}

	// The Service reaches the pods' HTTPS port, and the configuration the
	// Service.
	if m.service.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name || m.service.Spec.Selector["app.kubernetes.io/name"] != d.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Errorf("the Service does not reach the webhook: %+v", m.service.Spec)
	}
	wh := m.config.Webhooks[0]
	if s := wh.ClientConfig.Service; s == nil || s.Name != m.service.Name || s.Namespace != ns || *s.Path != "/mutate" || *s.Port != m.service.Spec.Ports[0].Port {
		t.Errorf("clientConfig %+v", wh.ClientConfig)
	}
	if *wh.SideEffects != admissionregistrationv1.SideEffectClassNone || *wh.FailurePolicy != admissionregistrationv1.Fail ||
		*wh.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy || len(wh.MatchConditions) != 1 {
		t.Errorf("sideEffects %v, failurePolicy %v, reinvocationPolicy %v, matchConditions %v", *wh.SideEffects, *wh.FailurePolicy, *wh.ReinvocationPolicy, wh.MatchConditions)
	}
	// Its own namespace is never sent to it.
	excluded := false
	for _, e := range wh.NamespaceSelector.MatchExpressions {
		excluded = excluded || (e.Key == "kubernetes.io/metadata.name" && e.Operator == "NotIn" && slices.Contains(e.Values, ns))
	}
	if !excluded {
		t.Errorf("the namespaceSelector does not keep %s out: %+v", ns, wh.NamespaceSelector)
	}
	// A drain leaves one replica.
	if m.pdb.Spec.MinAvailable.IntValue() != 1 || m.pdb.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != d.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Errorf("the PodDisruptionBudget: %+v", m.pdb.Spec)
	}
}

// dig reads a path of keys in a decoded YAML object.
func dig(o map[string]any, keys ...string) any {
	var v any = o
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
