package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// signJWT signs claims with key (ES256).
func signJWT(t testing.TB, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func publicPEM(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func write(t testing.TB, c *api.Client, path string, data map[string]any) *api.Secret {
	t.Helper()
	s, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return s
}

// enableJWT sets up JWT login at jwt/, role "app", for tokens signed by key.
func enableJWT(t testing.TB, v *testenv.VaultServer, key *ecdsa.PrivateKey) {
	t.Helper()
	c := v.Client()
	if err := c.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	write(t, c, "auth/jwt/config", map[string]any{
		"jwt_validation_pubkeys": []string{publicPEM(t, key)},
		"bound_issuer":           "https://issuer.test",
	})
	write(t, c, "auth/jwt/role/app", map[string]any{
		"role_type":       "jwt",
		"bound_audiences": []string{"mcp-secrets"},
		"user_claim":      "sub",
		"token_policies":  []string{testenv.ReadAllPolicy},
		"token_ttl":       "1h",
	})
}

// enableKubernetes sets up Kubernetes login at kubernetes/, role "mcp" for
// service account apps/mcp, against a stand-in for the Kubernetes API's
// TokenReview endpoint (no Kubernetes runs here) that accepts saToken alone.
// Vault's own kubernetes auth plugin does the rest, signature check included.
func enableKubernetes(t testing.TB, v *testenv.VaultServer, key *ecdsa.PrivateKey, saToken string) {
	t.Helper()
	k8s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" ||
			json.NewDecoder(r.Body).Decode(&review) != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		status := map[string]any{"authenticated": false}
		if review.Spec.Token == saToken {
			status = map[string]any{
				"authenticated": true,
				"user":          map[string]any{"username": "system:serviceaccount:apps:mcp", "uid": "uid-mcp"},
				"audiences":     review.Spec.Audiences,
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status,
		})
	}))
	t.Cleanup(k8s.Close)
	c := v.Client()
	if err := c.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	write(t, c, "auth/kubernetes/config", map[string]any{
		"kubernetes_host":      k8s.URL,
		"pem_keys":             []string{publicPEM(t, key)},
		"disable_local_ca_jwt": true,
	})
	write(t, c, "auth/kubernetes/role/mcp", map[string]any{
		"bound_service_account_names":      []string{"mcp"},
		"bound_service_account_namespaces": []string{"apps"},
		"token_policies":                   []string{testenv.ReadAllPolicy},
		"token_ttl":                        "1h",
	})
}

// serviceAccountToken is a legacy-form Kubernetes service account token.
func serviceAccountToken(t testing.TB, key *ecdsa.PrivateKey, name string) string {
	return signJWT(t, key, map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:apps:" + name,
		"kubernetes.io/serviceaccount/namespace": "apps",
		"kubernetes.io/serviceaccount/service-account.name": name,
		"kubernetes.io/serviceaccount/service-account.uid":  "uid-" + name,
		"kubernetes.io/serviceaccount/secret.name":          name + "-token",
	})
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuth(t *testing.T) {
	v := testenv.Vault(t)
	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1})
	roleID, secretID := v.EnableAppRole(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enableJWT(t, v, key)
	now := time.Now().Unix()
	jwtClaims := map[string]any{"iss": "https://issuer.test", "sub": "ci-job", "aud": "mcp-secrets", "iat": now, "exp": now + 600}
	jwt := signJWT(t, key, jwtClaims)
	forgedJWT := signJWT(t, otherKey, jwtClaims)
	saToken := serviceAccountToken(t, key, "mcp")
	otherSAToken := serviceAccountToken(t, key, "intruder")
	enableKubernetes(t, v, key, saToken)

	dir := t.TempDir()
	jwtFile := writeFile(t, dir, "jwt", jwt+"\n")
	saFile := writeFile(t, dir, "sa-token", saToken)
	otherSAFile := writeFile(t, dir, "other-sa-token", otherSAToken)
	home := t.TempDir()
	writeFile(t, home, ".vault-token", v.Token+"\n")

	tests := []struct {
		name   string
		env    map[string]string
		kind   error  // nil: the fetch succeeds
		says   string // in the error
		hidden []string
	}{
		{"VAULT_TOKEN", map[string]string{"VAULT_TOKEN": v.Token}, nil, "", nil},
		{"~/.vault-token", map[string]string{"HOME": home}, nil, "", nil},
		{"VAULT_TOKEN wins over ~/.vault-token", map[string]string{"HOME": home, "VAULT_TOKEN": "hvs.wrong"}, providers.ErrDenied, "permission denied", nil},
		{"AppRole", map[string]string{"VAULT_ROLE_ID": roleID, "VAULT_SECRET_ID": secretID}, nil, "", []string{secretID}},
		{"AppRole, wrong secret id", map[string]string{"VAULT_ROLE_ID": roleID, "VAULT_SECRET_ID": "0f9c7a1e-wrong-secret-id"},
			providers.ErrDenied, "login with approle at auth/approle", []string{"0f9c7a1e-wrong-secret-id"}},
		{"AppRole, other mount", map[string]string{"VAULT_ROLE_ID": roleID, "VAULT_SECRET_ID": secretID, "VAULT_APPROLE_MOUNT": "elsewhere"},
			providers.ErrDenied, "auth/elsewhere", []string{secretID}},
		{"JWT", map[string]string{"VAULT_JWT": jwt, "VAULT_JWT_ROLE": "app"}, nil, "", []string{jwt}},
		{"JWT file", map[string]string{"VAULT_JWT_FILE": jwtFile, "VAULT_JWT_ROLE": "app"}, nil, "", []string{jwt}},
		{"JWT, forged", map[string]string{"VAULT_JWT": forgedJWT, "VAULT_JWT_ROLE": "app"}, providers.ErrDenied, "login with jwt", []string{forgedJWT}},
		{"Kubernetes", map[string]string{"VAULT_K8S_ROLE": "mcp", "VAULT_K8S_TOKEN_FILE": saFile}, nil, "", []string{saToken}},
		{"Kubernetes, other account", map[string]string{"VAULT_K8S_ROLE": "mcp", "VAULT_K8S_TOKEN_FILE": otherSAFile},
			providers.ErrDenied, "login with kubernetes", []string{otherSAToken}},
		{"no credentials", map[string]string{}, providers.ErrDenied, "permission denied (no Vault token: set VAULT_TOKEN", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["VAULT_ADDR"] = v.Addr
			h := newProvider(t, tt.env, append(tt.hidden, kv2PasswordV1)...)
			s, err := h.fetch(context.Background(), "$<vault:secret/app>")
			if tt.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if w, _ := s.Whole(); w.Reveal() != kv2PasswordV1 {
					t.Errorf("wrong value (%s)", w.Masked())
				}
				return
			}
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("%v: want %v saying %q", err, tt.kind, tt.says)
			}
			t.Logf("error: %v", err)
		})
	}
}

// upkeepRunning reports whether the token upkeep goroutine exists.
func upkeepRunning() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "vault.(*Provider).upkeep")
}

// appRole creates an AppRole role whose tokens live ttl, at most maxTTL,
// and returns its role_id and a secret_id.
func appRole(t testing.TB, v *testenv.VaultServer, name, ttl, maxTTL string) (roleID, secretID string) {
	t.Helper()
	v.EnableAppRole(t)
	c := v.Client()
	role := "auth/approle/role/" + name
	write(t, c, role, map[string]any{"token_policies": []string{testenv.ReadAllPolicy}, "token_ttl": ttl, "token_max_ttl": maxTTL})
	s, err := c.Logical().Read(role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID = s.Data["role_id"].(string)
	return roleID, write(t, c, role+"/secret-id", nil).Data["secret_id"].(string)
}

// The token of a login is renewed while the provider is open, and no
// longer once it is closed: the upkeep goroutine is gone when Close returns.
func TestTokenRenewal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out token TTLs")
	}
	v := testenv.Vault(t)
	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1})
	roleID, secretID := appRole(t, v, "short", "3s", "1h")
	proxy := countRequests(t, v.Addr)
	h := newProvider(t, map[string]string{"VAULT_ADDR": proxy.URL, "VAULT_ROLE_ID": roleID, "VAULT_SECRET_ID": secretID}, secretID, kv2PasswordV1)
	ctx := context.Background()
	if upkeepRunning() {
		t.Fatal("upkeep running before first use")
	}
	if _, err := h.fetch(ctx, "$<vault:secret/app>"); err != nil {
		t.Fatal(err)
	}
	if !upkeepRunning() {
		t.Fatal("no upkeep after a login")
	}
	time.Sleep(4500 * time.Millisecond) // past the login token's first TTL
	if _, err := h.fetch(ctx, "$<vault:secret/app>"); err != nil {
		t.Fatalf("after the token's first TTL: %v", err)
	}
	if n := proxy.n("PUT /v1/auth/token/renew-self"); n < 1 {
		t.Errorf("%d renewals in 4.5 s of a 3 s token", n)
	}
	if n := proxy.n("PUT /v1/auth/approle/login"); n != 1 {
		t.Errorf("%d logins, want 1: renewal keeps the token", n)
	}
	h.p.Close()
	if upkeepRunning() {
		t.Fatal("upkeep still running after Close")
	}
	renewals := proxy.n("PUT /v1/auth/token/renew-self")
	time.Sleep(2500 * time.Millisecond)
	if n := proxy.n("PUT /v1/auth/token/renew-self"); n != renewals {
		t.Errorf("%d renewals after Close", n-renewals)
	}
	if _, err := h.fetch(ctx, "$<vault:secret/app>"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("fetch after Close: %v, want an error that says the provider is closed", err)
	}
	if upkeepRunning() {
		t.Fatal("a fetch after Close started the upkeep again")
	}
}

// A login token that reaches its max TTL is replaced by a new login.
func TestRelogin(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out token TTLs")
	}
	v := testenv.Vault(t)
	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1})
	roleID, secretID := appRole(t, v, "capped", "2s", "3s")
	proxy := countRequests(t, v.Addr)
	h := newProvider(t, map[string]string{"VAULT_ADDR": proxy.URL, "VAULT_ROLE_ID": roleID, "VAULT_SECRET_ID": secretID}, secretID, kv2PasswordV1)
	ctx := context.Background()
	if _, err := h.fetch(ctx, "$<vault:secret/app>"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // past the first token's max TTL
	if _, err := h.fetch(ctx, "$<vault:secret/app>"); err != nil {
		t.Fatalf("after the first token's max TTL: %v", err)
	}
	if n := proxy.n("PUT /v1/auth/approle/login"); n < 2 {
		t.Errorf("%d logins in 4 s with tokens of max TTL 3 s, want 2 or more", n)
	}
}

// A token from the environment is renewed too, once looked up; a root
// token, which never expires, is left alone.
func TestEnvTokenRenewal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out token TTLs")
	}
	v := testenv.Vault(t)
	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1})
	v.Policy(t, "reader", `path "secret/*" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }`)
	tests := []struct {
		name     string
		token    string
		renewals bool
	}{
		{"periodic-ish 3s token", v.NewToken(t, 3*time.Second, "reader"), true},
		{"root token", v.Token, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			proxy := countRequests(t, v.Addr)
			h := newProvider(t, vaultEnv(proxy.URL, tt.token), tt.token)
			if _, err := h.fetch(context.Background(), "$<vault:secret/app>"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3500 * time.Millisecond)
			if _, err := h.fetch(context.Background(), "$<vault:secret/app>"); err != nil {
				t.Fatalf("after the token's TTL: %v", err)
			}
			if got := proxy.n("PUT /v1/auth/token/renew-self") > 0; got != tt.renewals {
				t.Errorf("renewed: %v, want %v", got, tt.renewals)
			}
		})
	}
}

// A JWT file is read again at each login: Kubernetes and CI systems rotate
// the tokens they mount.
func TestJWTFileReadAtEachLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out token TTLs")
	}
	v := testenv.Vault(t)
	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1})
	v.EnableAppRole(t) // for its read-all policy
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enableJWT(t, v, key)
	write(t, v.Client(), "auth/jwt/role/app", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"mcp-secrets"}, "user_claim": "sub",
		"token_policies": []string{testenv.ReadAllPolicy}, "token_ttl": "2s", "token_max_ttl": "3s",
	})
	now := time.Now().Unix()
	jwt := func(sub string) string {
		return signJWT(t, key, map[string]any{"iss": "https://issuer.test", "sub": sub, "aud": "mcp-secrets", "iat": now, "exp": now + 600})
	}
	first, second := jwt("first"), jwt("second")
	file := writeFile(t, t.TempDir(), "jwt", first)
	h := newProvider(t, map[string]string{"VAULT_ADDR": v.Addr, "VAULT_JWT_FILE": file, "VAULT_JWT_ROLE": "app"}, first, second, kv2PasswordV1)
	ctx := context.Background()
	if _, err := h.fetch(ctx, "$<vault:secret/app>"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(file), "jwt", "not-a-jwt")
	waitFor(t, 5*time.Second, "a login with the new (broken) file", func() bool {
		return strings.Contains(h.log.String(), "login with jwt")
	})
	writeFile(t, filepath.Dir(file), "jwt", second)
	waitFor(t, 10*time.Second, "a fetch with a token from the rotated file", func() bool {
		_, err := h.fetch(ctx, "$<vault:secret/app>")
		return err == nil && strings.Count(h.log.String(), "msg=\"logged in\"") >= 2
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, limit)
		}
	}
}
