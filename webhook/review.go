package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

const reviewVersion = "admission.k8s.io/v1"

// decodeReview reads an AdmissionReview v1 request.
func decodeReview(body []byte) (*request, error) {
	var r review
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("AdmissionReview: %w", err)
	}
	if r.APIVersion != reviewVersion || r.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want %s AdmissionReview", r.APIVersion, r.Kind, reviewVersion)
	}
	if r.Request == nil || r.Request.UID == "" {
		return nil, errors.New("AdmissionReview: no request uid")
	}
	return r.Request, nil
}

// admit answers one request. Anything but the creation of a core/v1 Pod
// (a webhook configuration that asks for more) is allowed unchanged.
func (im Images) admit(req *request) (response, mutation) {
	resp := response{UID: req.UID, Allowed: true}
	if req.Kind != (groupVersionKind{Version: "v1", Kind: "Pod"}) || req.Operation != "CREATE" {
		return resp, mutation{}
	}
	m, err := im.mutate(req.Object)
	if err != nil {
		resp.Allowed = false
		resp.Result = &status{Code: http.StatusBadRequest, Reason: "BadRequest", Message: err.Error()}
		return resp, m
	}
	resp.Warnings = m.warnings
	if len(m.ops) > 0 {
		patch, err := json.Marshal(m.ops)
		if err != nil {
			panic(err) // the ops are plain structs, strings and slices: they always encode
		}
		resp.PatchType, resp.Patch = "JSONPatch", patch
	}
	return resp, m
}
