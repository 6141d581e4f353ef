package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// KumoProxy is a reverse proxy in front of a kumo server for what kumo cannot
// do: it counts requests per operation and secret, answers chosen requests
// with faults (access denied, throttling, 5xx) as Secrets Manager does, and
// serves BatchGetSecretValue, which kumo lacks, from kumo's GetSecretValue in
// the real wire format.
type KumoProxy struct {
	URL string // http://127.0.0.1:PORT

	kumo *KumoServer
	rp   *httputil.ReverseProxy

	mu      sync.Mutex
	calls   map[string]int    // by operation
	secrets map[[2]string]int // by operation and SecretId
	faults  map[string]*Fault // by operation or SecretId
	noBatch bool
	latency time.Duration
	keys    map[string]bool // access key ids that signed requests
}

// Fault is an error answer in Secrets Manager's JSON 1.1 wire format.
type Fault struct {
	Status int    // HTTP status
	Code   string // X-Amzn-ErrorType and __type
	// Times is how many matching requests get the fault before they pass
	// again; 0 means all of them.
	Times int
}

// Faults the SDK treats differently: AccessDenied is final, the others are
// retried (3 attempts by default).
var (
	FaultDenied    = Fault{Status: http.StatusBadRequest, Code: "AccessDeniedException"}
	FaultThrottled = Fault{Status: http.StatusBadRequest, Code: "ThrottlingException"}
	FaultInternal  = Fault{Status: http.StatusInternalServerError, Code: "InternalServiceError"}
)

// Proxy starts a proxy in front of k on a random 127.0.0.1 port; cleanup
// closes it.
func (k *KumoServer) Proxy(t testing.TB) *KumoProxy {
	t.Helper()
	target, err := url.Parse(k.URL)
	if err != nil {
		t.Fatalf("testenv: kumo URL: %v", err)
	}
	p := &KumoProxy{
		kumo:    k,
		rp:      httputil.NewSingleHostReverseProxy(target),
		calls:   map[string]int{},
		secrets: map[[2]string]int{},
		faults:  map[string]*Fault{},
		keys:    map[string]bool{},
	}
	// The default transport keeps 2 idle connections per host: too few for
	// a client that fetches 16 secrets at a time.
	p.rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Env is kumo's Env pointing at the proxy instead.
func (p *KumoProxy) Env() []string {
	env := p.kumo.Env()
	for i, kv := range env {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL=") {
			env[i] = "AWS_ENDPOINT_URL=" + p.URL
		}
	}
	return env
}

// Fail answers requests for target, an operation name (GetSecretValue) or a
// SecretId, with f. Inside a BatchGetSecretValue, a fault for a secret that
// is not a throttling or 5xx becomes that secret's entry in Errors, as AWS
// reports it.
func (p *KumoProxy) Fail(target string, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[target] = &f
}

// Heal removes the fault for target.
func (p *KumoProxy) Heal(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.faults, target)
}

// DisableBatch passes BatchGetSecretValue on to kumo, which answers
// InvalidAction.
func (p *KumoProxy) DisableBatch() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noBatch = true
}

// SetLatency delays every answer by d, as a round trip to AWS would.
func (p *KumoProxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// Calls is the number of requests for the operation so far, faults included.
func (p *KumoProxy) Calls(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[op]
}

// SecretCalls is the number of requests for the operation that named
// secretID (BatchGetSecretValue counts once per secret listed).
func (p *KumoProxy) SecretCalls(op, secretID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.secrets[[2]string{op, secretID}]
}

// Reset zeroes the counters.
func (p *KumoProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.calls)
	clear(p.secrets)
}

// AccessKeys are the access key ids that signed requests so far.
func (p *KumoProxy) AccessKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id := range p.keys {
		ids = append(ids, id)
	}
	return ids
}

// smRequest is the part of a Secrets Manager request the proxy reads.
type smRequest struct {
	SecretID     string   `json:"SecretId"`
	SecretIDList []string `json:"SecretIdList"`
	Filters      []any    `json:"Filters"`
}

func (p *KumoProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeFault(w, Fault{Status: http.StatusBadRequest, Code: "InvalidRequestException"}, "unreadable body")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	var req smRequest
	_ = json.Unmarshal(body, &req) // requests that are not JSON pass through unread

	p.mu.Lock()
	p.calls[op]++
	if req.SecretID != "" {
		p.secrets[[2]string{op, req.SecretID}]++
	}
	for _, id := range req.SecretIDList {
		p.secrets[[2]string{op, id}]++
	}
	if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		id, _, _ := strings.Cut(cred, "/")
		p.keys[id] = true
	}
	f := p.take(op)
	if f == nil && req.SecretID != "" {
		f = p.take(req.SecretID)
	}
	batch := op == "BatchGetSecretValue" && !p.noBatch
	latency := p.latency
	p.mu.Unlock()
	time.Sleep(latency)

	switch {
	case f != nil:
		writeFault(w, *f, faultMessage(*f, op, req.SecretID))
	case batch:
		p.batchGet(w, r, req)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// take returns the fault for target, if any, counting down its Times.
// p.mu is held.
func (p *KumoProxy) take(target string) *Fault {
	f := p.faults[target]
	if f == nil {
		return nil
	}
	out := *f
	if f.Times > 0 {
		if f.Times--; f.Times == 0 {
			delete(p.faults, target)
		}
	}
	return &out
}

// faultMessage reads like AWS's own, naming the secret, never a value.
func faultMessage(f Fault, op, secretID string) string {
	if f.Code == FaultDenied.Code {
		return fmt.Sprintf("User: arn:aws:iam::000000000000:user/test is not authorized to perform: secretsmanager:%s on resource: %s (injected by the test proxy)", op, secretID)
	}
	return fmt.Sprintf("%s for %s (injected by the test proxy)", f.Code, op)
}

func writeFault(w http.ResponseWriter, f Fault, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", f.Code)
	w.WriteHeader(f.Status)
	json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "message": msg})
}

// batchGet serves BatchGetSecretValue for a SecretIdList, as AWS does: at
// most 20 ids; each secret's value in SecretValues, or its failure in Errors.
func (p *KumoProxy) batchGet(w http.ResponseWriter, r *http.Request, req smRequest) {
	invalid := Fault{Status: http.StatusBadRequest, Code: "InvalidParameterException"}
	switch {
	case len(req.Filters) > 0 || len(req.SecretIDList) == 0:
		writeFault(w, invalid, "the test proxy serves BatchGetSecretValue for a SecretIdList only")
		return
	case len(req.SecretIDList) > 20:
		writeFault(w, invalid, "SecretIdList: member must have length less than or equal to 20")
		return
	}
	type entry struct {
		ARN           string   `json:"ARN"`
		Name          string   `json:"Name"`
		VersionID     string   `json:"VersionId"`
		SecretString  *string  `json:"SecretString,omitempty"`
		SecretBinary  []byte   `json:"SecretBinary,omitempty"`
		VersionStages []string `json:"VersionStages"`
		CreatedDate   float64  `json:"CreatedDate"`
	}
	type entryError struct {
		SecretID  string `json:"SecretId"`
		ErrorCode string `json:"ErrorCode"`
		Message   string `json:"Message"`
	}
	var resp struct {
		SecretValues []entry      `json:"SecretValues"`
		Errors       []entryError `json:"Errors"`
	}
	for _, id := range req.SecretIDList {
		p.mu.Lock()
		f := p.take(id)
		p.mu.Unlock()
		if f != nil {
			if f.Code == FaultThrottled.Code || f.Status >= 500 {
				writeFault(w, *f, faultMessage(*f, "BatchGetSecretValue", id))
				return
			}
			resp.Errors = append(resp.Errors, entryError{id, f.Code, faultMessage(*f, "GetSecretValue", id)})
			continue
		}
		out, err := p.kumo.SecretsManager.GetSecretValue(r.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		var api smithy.APIError
		switch {
		case errors.As(err, &api):
			resp.Errors = append(resp.Errors, entryError{id, api.ErrorCode(), api.ErrorMessage()})
			continue
		case err != nil:
			writeFault(w, FaultInternal, "kumo: "+err.Error())
			return
		}
		resp.SecretValues = append(resp.SecretValues, entry{
			ARN:           aws.ToString(out.ARN),
			Name:          aws.ToString(out.Name),
			VersionID:     aws.ToString(out.VersionId),
			SecretString:  out.SecretString,
			SecretBinary:  out.SecretBinary,
			VersionStages: out.VersionStages,
			CreatedDate:   float64(aws.ToTime(out.CreatedDate).Unix()),
		})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(resp)
}
