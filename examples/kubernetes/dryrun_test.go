// The API server and etcd run on Linux here (testenv.Kube).

//go:build linux

package kubernetes_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// doc is one document of a manifest file.
type doc struct {
	where      string // file #index
	apiVersion string
	kind       string
	namespace  string
	json       []byte
}

// docs reads every document of every .yaml file here and below.
func docs(t *testing.T) []doc {
	t.Helper()
	var out []doc
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			if strings.TrimSpace(part) == "" {
				continue
			}
			j, err := yaml.YAMLToJSON([]byte(part))
			if err != nil {
				t.Fatalf("%s #%d: %v", path, i, err)
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(j, &head); err != nil {
				t.Fatalf("%s #%d: %v", path, i, err)
			}
			out = append(out, doc{fmt.Sprintf("%s #%d", path, i), head.APIVersion, head.Kind, head.Metadata.Namespace, j})
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	return out
}

// Every manifest here is what a real API server accepts: a server-side
// dry-run create with strict field validation (an unknown or duplicate
// field is an error, not a warning), after the admission chain and the
// API's own validation, native sidecars included.
func TestServerSideDryRun(t *testing.T) {
	kube := testenv.Kube(t)
	all := docs(t)
	// Namespaces first: they do not exist yet. Then the ones the others
	// live in are created for real.
	slices.SortStableFunc(all, func(a, b doc) int {
		return boolInt(b.kind == "Namespace") - boolInt(a.kind == "Namespace")
	})
	made := map[string]bool{}
	var notServed []string
	for _, d := range all {
		if d.namespace != "" && !made[d.namespace] {
			kube.Namespace(t, d.namespace, nil)
			made[d.namespace] = true
		}
		path, ok := resourcePath(t, kube, d)
		if !ok {
			notServed = append(notServed, d.apiVersion+" "+d.kind)
			continue
		}
		code, out, err := kube.Do(http.MethodPost, path+"?dryRun=All&fieldValidation=Strict", d.json)
		if err != nil || code != http.StatusCreated {
			t.Errorf("%s (%s): %d %v: %v", d.where, d.kind, code, err, testenv.StatusError(out))
		}
	}
	// cert-manager's and the Prometheus Operator's kinds are the only ones
	// that need definitions this API server has not got (webhook_test.go
	// and monitoring_test.go check them).
	slices.Sort(notServed)
	if want := []string{"cert-manager.io/v1 Certificate", "cert-manager.io/v1 Certificate", "cert-manager.io/v1 Issuer", "cert-manager.io/v1 Issuer", "monitoring.coreos.com/v1 PrometheusRule"}; !slices.Equal(notServed, want) {
		t.Errorf("kinds not served: %q, want %q", notServed, want)
	}

	// The control: the same request with an unknown field is refused.
	i := slices.IndexFunc(all, func(d doc) bool { return d.kind == "Deployment" })
	bad := bytes.Replace(all[i].json, []byte(`"replicas":`), []byte(`"replicass":1,"replicas":`), 1)
	path, _ := resourcePath(t, kube, all[i])
	code, out, _ := kube.Do(http.MethodPost, path+"?dryRun=All&fieldValidation=Strict", bad)
	if msg := testenv.StatusError(out).Error(); code != http.StatusBadRequest || !strings.Contains(msg, `unknown field "spec.replicass"`) {
		t.Errorf("an unknown field: %d %s", code, msg)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// resourcePath is where objects of d's kind are created, from the API
// server's discovery; false if it does not serve the kind.
func resourcePath(t *testing.T, kube *testenv.KubeServer, d doc) (string, bool) {
	t.Helper()
	base := "/apis/" + d.apiVersion
	if !strings.Contains(d.apiVersion, "/") {
		base = "/api/" + d.apiVersion
	}
	code, out, err := kube.Do(http.MethodGet, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code == http.StatusNotFound {
		return "", false
	}
	var list struct {
		Resources []struct {
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			Namespaced bool   `json:"namespaced"`
		} `json:"resources"`
	}
	if code != http.StatusOK || json.Unmarshal(out, &list) != nil {
		t.Fatalf("GET %s: %d %s", base, code, out)
	}
	for _, r := range list.Resources {
		if r.Kind == d.kind && !strings.Contains(r.Name, "/") {
			if r.Namespaced {
				return base + "/namespaces/" + d.namespace + "/" + r.Name, true
			}
			return base + "/" + r.Name, true
		}
	}
	return "", false
}
