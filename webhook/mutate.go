package webhook

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The annotations a pod asks for injection with.
const (
	annotationInject = "mcp-secrets.dev/inject" // sidecar or exec
	annotationConfig = "mcp-secrets.dev/config" // the ConfigMap with mcp.json, for sidecar
)

// What inject: sidecar adds: the native sidecar of examples/kubernetes.
const (
	sidecarName   = "mcp-secrets"
	sidecarURL    = "http://127.0.0.1:8000"
	urlEnv        = "MCP_SECRETS_URL"
	configVolume  = "mcp-secrets-config"
	configDir     = "/etc/mcp-secrets"
	tmpVolume     = "mcp-secrets-tmp"
	adminPortName = "mcp-admin"
)

// What inject: exec adds: an init container that copies the binary into an
// emptyDir, and each container with references run through it.
const (
	installName = "mcp-secrets-install"
	binVolume   = "mcp-secrets-bin"
	binDir      = "/mcp-secrets"
	binPath     = binDir + "/mcp-secrets"
)

// Images are the images the webhook injects.
type Images struct {
	Sidecar string // serve, with the MCP servers' runtimes (the Dockerfile's sidecar target)
	Exec    string // whose entrypoint is the static binary (the launcher target)
}

// mutation is the outcome of one pod's admission.
type mutation struct {
	mode     string // sidecar, exec, or "" for a pod without the annotation
	pod      string // its name, for the log: generateName* when it has none yet
	ops      []op
	warnings []string
}

// mutate returns the patch that gives the pod what its annotation asks
// for, or why the pod is denied, for its author to read. The patch brings
// the pod to that state from wherever it is, so a pod that has it already
// (a re-admission, a reinvocation after another webhook or a built-in
// plugin changed it) gets an empty one.
func (im Images) mutate(raw []byte) (mutation, error) {
	var p pod
	if err := json.Unmarshal(raw, &p); err != nil {
		return mutation{}, fmt.Errorf("the pod does not decode: %w", err)
	}
	m := mutation{mode: p.Metadata.Annotations[annotationInject], pod: cmp.Or(p.Metadata.Name, p.Metadata.GenerateName+"*")}
	switch m.mode {
	case "":
		return m, nil
	case "sidecar", "exec":
	default:
		return m, fmt.Errorf("%s: %q: want sidecar or exec", annotationInject, m.mode)
	}
	// The API server never sends such a pod, but a patch below a missing
	// spec would not apply.
	if len(p.Spec.Containers) == 0 {
		return m, errors.New("the pod has no containers")
	}
	if m.mode == "exec" {
		var err error
		m.ops, m.warnings, err = im.exec(&p)
		return m, err
	}
	name := p.Metadata.Annotations[annotationConfig]
	if !isDNSSubdomain(name) {
		return m, fmt.Errorf("%s: sidecar needs %s: the name of a ConfigMap with mcp.json (got %q)", annotationInject, annotationConfig, name)
	}
	m.ops = im.sidecar(&p, name)
	return m, nil
}

// sidecar adds the serve sidecar, its volumes, and MCP_SECRETS_URL in
// each app container, where they are missing.
func (im Images) sidecar(p *pod, configMap string) []op {
	var pt patch
	var vols []any
	if !hasName(p.Spec.Volumes, configVolume) {
		vols = append(vols, volume{Name: configVolume, ConfigMap: &configMapSource{Name: configMap}})
	}
	if !hasName(p.Spec.Volumes, tmpVolume) {
		vols = append(vols, volume{Name: tmpVolume, EmptyDir: &emptyDirSource{SizeLimit: "256Mi"}})
	}
	pt.append(pointer("spec", "volumes"), p.Spec.Volumes != nil, vols...)
	for i, c := range p.Spec.Containers {
		if !slices.ContainsFunc(c.Env, func(e envVar) bool { return e.Name == urlEnv }) {
			pt.append(pointer("spec", "containers", i, "env"), c.Env != nil, envVar{Name: urlEnv, Value: sidecarURL})
		}
	}
	// First of the init containers, so any init container after it may use
	// it too; kubelet starts the app containers once its startup probe passes.
	if !slices.ContainsFunc(p.Spec.InitContainers, func(c container) bool { return c.Name == sidecarName }) {
		pt.prepend(pointer("spec", "initContainers"), p.Spec.InitContainers != nil, im.sidecarContainer())
	}
	return pt.ops
}

func (im Images) sidecarContainer() newContainer {
	get := func(path string) httpGet { return httpGet{Path: path, Port: adminPortName} }
	return newContainer{
		Name:          sidecarName,
		Image:         im.Sidecar,
		RestartPolicy: "Always", // a native sidecar: up before the app, down after it
		Args: []string{"serve", "--config=" + configDir + "/mcp.json",
			"--listen=127.0.0.1:8000", "--admin-listen=:9090", "--log-format=json"},
		Ports:          []port{{Name: adminPortName, ContainerPort: 9090}},
		StartupProbe:   &probe{HTTPGet: get("/healthz"), PeriodSeconds: 1, FailureThreshold: 30},
		LivenessProbe:  &probe{HTTPGet: get("/healthz"), PeriodSeconds: 10},
		ReadinessProbe: &probe{HTTPGet: get("/readyz"), PeriodSeconds: 10, TimeoutSeconds: 5},
		Resources: resources{
			Requests: map[string]string{"cpu": "100m", "memory": "256Mi"},
			Limits:   map[string]string{"memory": "1Gi"},
		},
		SecurityContext: hardened(),
		VolumeMounts: []volumeMount{
			{Name: configVolume, MountPath: configDir, ReadOnly: true},
			{Name: tmpVolume, MountPath: "/tmp"},
		},
	}
}

// exec runs each container whose env holds references through
// `mcp-secrets run`, from a copy of the binary an init container makes.
func (im Images) exec(p *pod) ([]op, []string, error) {
	var pt patch
	var denied, warnings []string
	wrapped := false
	for _, list := range []struct {
		field      string
		containers []container
	}{{"initContainers", p.Spec.InitContainers}, {"containers", p.Spec.Containers}} {
		for i, c := range list.containers {
			if c.Name == installName {
				continue
			}
			done := len(c.Command) > 0 && c.Command[0] == binPath
			if !done && !hasRefs(c) {
				if len(c.EnvFrom) > 0 {
					warnings = append(warnings, fmt.Sprintf("container %q: references in envFrom are not seen by the webhook; it runs as it is", c.Name))
				}
				continue
			}
			wrapped = true
			if !done {
				if len(c.Command) == 0 {
					denied = append(denied, c.Name)
					continue
				}
				pt.replace(pointer("spec", list.field, i, "command"), append([]string{binPath, "run", "--fallback=off", "--"}, c.Command...))
			}
			if !hasName(c.VolumeMounts, binVolume) {
				pt.append(pointer("spec", list.field, i, "volumeMounts"), c.VolumeMounts != nil, volumeMount{Name: binVolume, MountPath: binDir, ReadOnly: true})
			}
		}
	}
	if len(denied) > 0 {
		return nil, nil, fmt.Errorf("%s: exec: %s $<…> references in its env but no command in the pod spec; the webhook never looks up an image's entrypoint: give the container a command (its args stay as they are)",
			annotationInject, quoteNames(denied))
	}
	if !wrapped {
		return nil, warnings, nil
	}
	if !hasName(p.Spec.Volumes, binVolume) {
		pt.append(pointer("spec", "volumes"), p.Spec.Volumes != nil, volume{Name: binVolume, EmptyDir: &emptyDirSource{}})
	}
	if !slices.ContainsFunc(p.Spec.InitContainers, func(c container) bool { return c.Name == installName }) {
		pt.prepend(pointer("spec", "initContainers"), p.Spec.InitContainers != nil, im.installContainer())
	}
	return pt.ops, warnings, nil
}

// installContainer copies the binary of the exec image (its entrypoint)
// into the emptyDir, before every other init container.
func (im Images) installContainer() newContainer {
	return newContainer{
		Name:  installName,
		Image: im.Exec,
		Args:  []string{"webhook", "install", binDir},
		Resources: resources{
			Requests: map[string]string{"cpu": "10m", "memory": "32Mi"},
			Limits:   map[string]string{"memory": "128Mi"},
		},
		SecurityContext: hardened(),
		VolumeMounts:    []volumeMount{{Name: binVolume, MountPath: binDir}},
	}
}

// hardened is the securityContext of every container the webhook adds:
// what Pod Security's restricted profile asks of a container.
func hardened() securityContext {
	return securityContext{
		ReadOnlyRootFilesystem: true,
		RunAsNonRoot:           true,
		Capabilities:           capabilities{Drop: []string{"ALL"}},
		SeccompProfile:         seccompProfile{Type: "RuntimeDefault"},
	}
}

// hasRefs reports whether a value of c's env may hold a reference. It
// errs on the side of wrapping: a container wrapped without need runs as
// it would, one left out would see its references as text.
func hasRefs(c container) bool {
	return slices.ContainsFunc(c.Env, func(e envVar) bool { return strings.Contains(e.Value, "$<") })
}

func hasName(list []named, name string) bool {
	return slices.ContainsFunc(list, func(n named) bool { return n.Name == name })
}

// quoteNames says which containers: `container "a" has`, `containers "a", "b" have`.
func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(names) == 1 {
		return "container " + q[0] + " has"
	}
	return "containers " + strings.Join(q, ", ") + " have"
}

// isDNSSubdomain reports whether s is a valid object name (RFC 1123
// subdomain), as a ConfigMap's must be.
func isDNSSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return false
			}
		}
	}
	return true
}
