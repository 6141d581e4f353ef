//go:build linux

package testenv

import (
	"crypto/tls"
	"net/http"
	"testing"
)

// The API server answers its administrator, refuses anyone else, and
// Stop leaves neither it nor etcd running.
func TestKube(t *testing.T) {
	k := Kube(t)
	code, out, err := k.Do(http.MethodGet, "/api/v1/namespaces/default", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("the administrator: %d %v %s", code, err, out)
	}
	// The control: the same request without the client certificate.
	tlsConf := k.Client.Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsConf.Certificates = nil
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	resp, err := anon.Get(k.URL + "/api/v1/namespaces/default")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an anonymous client: %s, want 403", resp.Status)
	}
	k.Stop()
	assertGone(t, "kube-apiserver", k.api.pid())
	assertGone(t, "etcd", k.etcd.pid())
	if _, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}).Get(k.URL + "/readyz"); err == nil {
		t.Error("the API server still answers after Stop")
	}
}
