package webhook

import "encoding/json"

// The few fields of the Kubernetes API the webhook reads and writes, under
// the API's JSON names. The webhook lives in the launcher's binary, whose
// every start would pay for k8s.io/api and apimachinery (their package
// inits and protobuf), so it decodes into these instead; the tests check
// them against the real types and a real API server.

// review is an admission.k8s.io/v1 AdmissionReview.
type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type request struct {
	UID       string           `json:"uid"`
	Kind      groupVersionKind `json:"kind"`
	Operation string           `json:"operation"`
	Namespace string           `json:"namespace"`
	Object    json.RawMessage  `json:"object"`
}

type groupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type response struct {
	UID       string   `json:"uid"`
	Allowed   bool     `json:"allowed"`
	Result    *status  `json:"status,omitempty"`
	PatchType string   `json:"patchType,omitempty"`
	Patch     []byte   `json:"patch,omitempty"` // base64 in JSON, as the API's []byte
	Warnings  []string `json:"warnings,omitempty"`
}

// status is the part of a metav1.Status a denial carries.
type status struct {
	Code    int32  `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// pod is what the webhook reads of a core/v1 Pod.
type pod struct {
	Metadata struct {
		Name         string            `json:"name"`
		GenerateName string            `json:"generateName"`
		Annotations  map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		InitContainers []container `json:"initContainers"`
		Containers     []container `json:"containers"`
		Volumes        []named     `json:"volumes"`
	} `json:"spec"`
}

// container is what the webhook reads of a Container. A nil slice was
// absent from the pod (a patch adds it whole), an empty one was [].
type container struct {
	Name         string            `json:"name"`
	Command      []string          `json:"command"`
	Env          []envVar          `json:"env"`
	EnvFrom      []json.RawMessage `json:"envFrom"`
	VolumeMounts []named           `json:"volumeMounts"`
}

type named struct {
	Name string `json:"name"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// What the webhook adds: a Container, a Volume, a VolumeMount.

type newContainer struct {
	Name            string          `json:"name"`
	Image           string          `json:"image"`
	Args            []string        `json:"args"`
	RestartPolicy   string          `json:"restartPolicy,omitempty"`
	Ports           []port          `json:"ports,omitempty"`
	StartupProbe    *probe          `json:"startupProbe,omitempty"`
	LivenessProbe   *probe          `json:"livenessProbe,omitempty"`
	ReadinessProbe  *probe          `json:"readinessProbe,omitempty"`
	Resources       resources       `json:"resources"`
	SecurityContext securityContext `json:"securityContext"`
	VolumeMounts    []volumeMount   `json:"volumeMounts"`
}

type port struct {
	Name          string `json:"name"`
	ContainerPort int32  `json:"containerPort"`
}

type probe struct {
	HTTPGet          httpGet `json:"httpGet"`
	PeriodSeconds    int32   `json:"periodSeconds,omitempty"`
	TimeoutSeconds   int32   `json:"timeoutSeconds,omitempty"`
	FailureThreshold int32   `json:"failureThreshold,omitempty"`
}

type httpGet struct {
	Path string `json:"path"`
	Port string `json:"port"` // a port name (an IntOrString)
}

type resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

type securityContext struct {
	AllowPrivilegeEscalation bool           `json:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   bool           `json:"readOnlyRootFilesystem"`
	RunAsNonRoot             bool           `json:"runAsNonRoot"`
	Capabilities             capabilities   `json:"capabilities"`
	SeccompProfile           seccompProfile `json:"seccompProfile"`
}

type capabilities struct {
	Drop []string `json:"drop"`
}

type seccompProfile struct {
	Type string `json:"type"`
}

type volumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

type volume struct {
	Name      string           `json:"name"`
	ConfigMap *configMapSource `json:"configMap,omitempty"`
	EmptyDir  *emptyDirSource  `json:"emptyDir,omitempty"`
}

type configMapSource struct {
	Name string `json:"name"`
}

type emptyDirSource struct {
	SizeLimit string `json:"sizeLimit,omitempty"`
}
