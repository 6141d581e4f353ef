// The API server runs on Linux here (tools/kube builds it; Debian's
// etcd-server); the tests that need it are Linux-only too.

//go:build linux

package testenv

// Start times observed on the 2-core machine, kube-apiserver v1.37.2 from
// tools/kube and Debian's etcd 3.4.23: etcd healthy in 0.2-0.5 s, the API
// server's /readyz 200 in 3-6 s after that; about 290 MiB RSS idle, etcd
// 45 MiB.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// KubeServer is a kube-apiserver and its etcd on 127.0.0.1, with no
// controller, scheduler or kubelet: objects are stored and admitted as a
// cluster does, and pods stay Pending.
type KubeServer struct {
	URL    string       // https://127.0.0.1:PORT
	Client *http.Client // authenticated as an administrator (group system:masters)

	etcd, api *proc
}

// Kube starts etcd and the API server in a temp dir, with certificates
// made by the test; cleanup stops the API server, then etcd. The API
// server is $MCP_SECRETS_KUBE_APISERVER (make kube builds it) or
// kube-apiserver on PATH; etcd is $MCP_SECRETS_ETCD or etcd on PATH
// (Debian's etcd-server).
func Kube(t testing.TB) *KubeServer {
	t.Helper()
	apiserver, etcd, err := KubeBinaries()
	if err != nil {
		unavailable(t, "%v", err)
	}
	begin := time.Now()
	k, err := StartKube(t.TempDir(), apiserver, etcd)
	if k != nil {
		t.Cleanup(k.Stop)
	}
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Logf("testenv: kube-apiserver at %s ready in %v", k.URL, time.Since(begin).Round(time.Millisecond))
	return k
}

// KubeBinaries finds the API server and etcd.
func KubeBinaries() (apiserver, etcd string, err error) {
	find := func(env, name, hint string) (string, error) {
		if bin := os.Getenv(env); bin != "" {
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("%s=%s: %v (%s)", env, bin, err, hint)
			}
			return bin, nil
		}
		bin, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("no %s: %s is unset and %s is not on PATH (%s)", name, env, name, hint)
		}
		return bin, nil
	}
	if apiserver, err = find("MCP_SECRETS_KUBE_APISERVER", "kube-apiserver", "build it with `make kube`, or run the tests with `make test`"); err != nil {
		return "", "", err
	}
	if etcd, err = find("MCP_SECRETS_ETCD", "etcd", "install Debian's etcd-server"); err != nil {
		return "", "", err
	}
	return apiserver, etcd, nil
}

// StartKube starts etcd and the API server with their files in dir; Stop
// stops them (also after an error, when the result is not nil).
func StartKube(dir, apiserver, etcd string) (*KubeServer, error) {
	k := &KubeServer{}
	var etcdURL string
	err := startRetryingPort(func(port int) error {
		peer, err := freePort()
		if err != nil {
			return err
		}
		etcdURL = "http://127.0.0.1:" + strconv.Itoa(port)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
		k.etcd, err = startProc(etcd, []string{
			"--name=testenv", "--data-dir=" + filepath.Join(dir, "etcd"),
			"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=testenv=" + peerURL,
		}, EnvWithout("ETCD"), nil)
		if err != nil {
			return err
		}
		err = waitReady(k.etcd, "etcd", etcdURL+"/health", http.DefaultClient)
		if k.etcd.exited() && strings.Contains(k.etcd.out.String(), "address already in use") {
			return errAddrInUse
		}
		return err
	})
	if err != nil {
		return k, err
	}
	files, err := k.files(dir)
	if err != nil {
		return k, err
	}
	err = startRetryingPort(func(port int) error {
		k.URL = "https://127.0.0.1:" + strconv.Itoa(port)
		k.api, err = startProc(apiserver, []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
			// No kubernetes Service endpoints: they may not be loopback.
			"--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
			"--cert-dir=" + dir, // else it may write to /var/run/kubernetes
			"--tls-cert-file=" + files["serving.crt"], "--tls-private-key-file=" + files["serving.key"],
			"--client-ca-file=" + files["ca.crt"],
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + files["sa.pub"], "--service-account-signing-key-file=" + files["sa.key"],
			"--service-cluster-ip-range=10.0.0.0/24",
			"--authorization-mode=RBAC",
			"--profiling=false",
		}, EnvWithout("KUBE"), nil)
		if err != nil {
			return err
		}
		err := waitReady(k.api, "kube-apiserver", k.URL+"/readyz", k.Client)
		if k.api.exited() && strings.Contains(k.api.out.String(), "address already in use") {
			return errAddrInUse
		}
		return err
	})
	return k, err
}

// files writes the API server's CA, serving certificate and
// service-account key into dir, and makes the administrator's client.
func (k *KubeServer) files(dir string) (map[string]string, error) {
	ca, err := CreateCA("testenv-kube-ca")
	if err != nil {
		return nil, err
	}
	if k.Client, err = adminClient(ca); err != nil {
		return nil, err
	}
	servingCert, servingKey, err := ca.IssuePair("kube-apiserver", nil, "127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for name, b := range map[string][]byte{
		"ca.crt": ca.PEM, "serving.crt": servingCert, "serving.key": servingKey,
		"sa.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saDER}),
		"sa.pub": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
	} {
		files[name] = filepath.Join(dir, name)
		if err := os.WriteFile(files[name], b, 0o600); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// waitReady polls url until it answers 200, p exits, or readyTimeout.
func waitReady(p *proc, what, url string, c *http.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %.200s", resp.Status, b)
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return p.exitError(what)
		case <-ctx.Done():
			return fmt.Errorf("%s at %s not ready after %v (last: %s); output tail:\n%s", what, url, readyTimeout, last, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills the API server, then etcd: the other order leaves the API
// server retrying for half a minute.
func (k *KubeServer) Stop() {
	for _, p := range []*proc{k.api, k.etcd} {
		if p != nil {
			p.kill()
		}
	}
}

// Pid is the API server's process id, for tests that measure it.
func (k *KubeServer) Pid() int { return k.api.pid() }

// Do sends one request with a JSON body (nil: none) and returns the
// status and the body of the answer.
func (k *KubeServer) Do(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return 0, nil, err
			}
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, k.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := k.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// Create posts obj (JSON, or a value to encode) to path and fails the test
// unless it is created.
func (k *KubeServer) Create(t testing.TB, path string, obj any) []byte {
	t.Helper()
	code, out, err := k.Do(http.MethodPost, path, obj)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("testenv: POST %s: %d %v\n%s", path, code, err, out)
	}
	return out
}

// Namespace creates a namespace with labels, and its default
// ServiceAccount, which no controller creates here and every pod needs.
func (k *KubeServer) Namespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	k.Create(t, "/api/v1/namespaces", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels},
	})
	k.Create(t, "/api/v1/namespaces/"+name+"/serviceaccounts", map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default"},
	})
}

// StatusError is the message of a Status the API server answered with.
func StatusError(body []byte) error {
	var s struct{ Message string }
	if json.Unmarshal(body, &s) != nil || s.Message == "" {
		return fmt.Errorf("%.300s", body)
	}
	return errors.New(s.Message)
}

// adminClient is a client with a certificate in system:masters.
func adminClient(ca *CA) (*http.Client, error) {
	certPEM, keyPEM, err := ca.IssuePair("testenv-admin", []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}}},
	}, nil
}
