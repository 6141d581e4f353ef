package webhook

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzReview feeds the decoder any body: it never panics, and its answer
// always encodes. When the body holds a pod, that pod as the API server
// would send it (through the API's own type) gets a patch that applies,
// makes a valid Pod, and leaves nothing for a second admission to do.
func FuzzReview(f *testing.F) {
	for _, obj := range [][]byte{
		podJSON(sidecarAnn, bare), podJSON(sidecarAnn, withToken), podJSON(execAnn, withToken), podJSON(execAnn, bare),
		podJSON(`{"mcp-secrets.dev/inject":"exec"}`, `{"containers":[{"name":"a","image":"a","env":[{"name":"T","value":"$<T>"}]}]}`),
		podJSON("", withToken),
	} {
		f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":` + string(obj) + `}}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeReview(body)
		if err != nil {
			return
		}
		resp, _ := testImages.admit(req)
		if _, err := json.Marshal(review{APIVersion: reviewVersion, Kind: "AdmissionReview", Response: &resp}); err != nil {
			t.Fatal(err)
		}
		var p corev1.Pod
		if json.Unmarshal(req.Object, &p) != nil {
			return
		}
		canonical, err := json.Marshal(&p)
		if err != nil {
			return
		}
		m, err := testImages.mutate(canonical)
		if err != nil {
			return
		}
		out, err := applyPatch(canonical, m.ops)
		if err != nil {
			t.Fatalf("the patch does not apply: %v\npod %s\npatch %+v", err, canonical, m.ops)
		}
		strictPod(t, out)
		again, err := testImages.mutate(out)
		if err != nil || len(again.ops) > 0 {
			t.Fatalf("a second admission: %v, %+v\npod %s", err, again.ops, out)
		}
	})
}
