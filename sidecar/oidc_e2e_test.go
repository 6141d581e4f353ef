// The tests read serve's children's environments in /proc.

//go:build linux

package sidecar_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/api"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// issuer is a static OIDC issuer served by the test (TESTING.md): its
// discovery document and a JWKS of a key the test generated, on loopback.
type issuer struct {
	url string
	key *rsa.PrivateKey
	// jwksFetches counts the fetches of the JWKS.
	mu          sync.Mutex
	jwksFetches int
}

const audience = "mcp-secrets-test"

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	iss := &issuer{url: "http://" + ln.Addr().String(), key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                iss.url,
			"jwks_uri":                              iss.url + "/jwks",
			"authorization_endpoint":                iss.url + "/authorize",
			"token_endpoint":                        iss.url + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		iss.mu.Lock()
		iss.jwksFetches++
		iss.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return iss
}

func (i *issuer) fetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksFetches
}

// claims are a token's claims: valid ones for sub, then changed by edit.
func (i *issuer) claims(sub string) jwt.Claims {
	now := time.Now()
	return jwt.Claims{Issuer: i.url, Subject: sub, Audience: jwt.Audience{audience}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}
}

// sign signs claims with key (RS256) under key id kid.
func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func (i *issuer) token(t *testing.T, sub string) string { return sign(t, i.key, "k1", i.claims(sub)) }

// forged builds a token whose header says alg with the signature sig
// computes over header.payload: what no maintained library would sign.
func forged(t *testing.T, alg string, claims jwt.Claims, sig func([]byte) []byte) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": "k1"})
	p, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	return input + "." + enc.EncodeToString(sig([]byte(input)))
}

// authed is an HTTP client that sends a bearer token.
func authed(token string) *http.Client {
	return &http.Client{Transport: &recorder{token: token}}
}

// serve's --oidc-issuer: a token of the issuer for the audience is taken;
// every other (expired, for another audience or issuer, signed by another
// key, alg none, HS256 keyed with the public key) is 401 with the header
// that names the resource metadata, which is served without a token and
// validates. The token never reaches a child.
func TestOIDC(t *testing.T) {
	cli, envserver := build(t)
	iss := newIssuer(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver}}), "", nil,
		"--oidc-issuer", iss.url, "--oidc-audience", audience, "--pool-size", "1")
	valid := iss.token(t, "alice")
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&iss.key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	expired := iss.claims("alice")
	expired.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	wrongAud := iss.claims("alice")
	wrongAud.Audience = jwt.Audience{"another-service"}
	wrongIss := iss.claims("alice")
	wrongIss.Issuer = "http://127.0.0.1:1"
	endpoint := s.url + "/env/mcp"
	metadata := s.url + "/.well-known/oauth-protected-resource/env/mcp"
	fetchesBefore := iss.fetches()
	for _, tt := range []struct {
		name, token string
		status      int
	}{
		{"valid", valid, 200},
		{"none", "", 401},
		{"not a JWT", "opaque-token-0123456789", 401},
		{"expired", sign(t, iss.key, "k1", expired), 401},
		{"wrong audience", sign(t, iss.key, "k1", wrongAud), 401},
		{"wrong issuer", sign(t, iss.key, "k1", wrongIss), 401},
		{"unknown key", sign(t, other, "k2", iss.claims("alice")), 401},
		{"signed by another key under the issuer's kid", sign(t, other, "k1", iss.claims("alice")), 401},
		{"alg none", forged(t, "none", iss.claims("alice"), func([]byte) []byte { return nil }), 401},
		{"HS256 keyed with the public key", forged(t, "HS256", iss.claims("alice"), func(in []byte) []byte {
			m := hmac.New(sha256.New, pubPEM)
			m.Write(in)
			return m.Sum(nil)
		}), 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", endpoint, strings.NewReader(initialize))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 401 {
				return
			}
			challenges, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
			if err != nil || len(challenges) != 1 || challenges[0].Scheme != "bearer" || challenges[0].Params["resource_metadata"] != metadata {
				t.Errorf("WWW-Authenticate %q (%v), want Bearer resource_metadata=%q", resp.Header.Values("WWW-Authenticate"), err, metadata)
			}
		})
	}
	// Made-up key ids do not make serve fetch the issuer's keys for each.
	if n := iss.fetches() - fetchesBefore; n > 1 {
		t.Errorf("the JWKS was fetched %d times for the refused tokens, want at most once (rate limited)", n)
	}
	// The metadata, without a token, as a client checks it.
	prm, err := oauthex.GetProtectedResourceMetadata(context.Background(), metadata, endpoint, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != iss.url {
		t.Errorf("authorization_servers %q, want the issuer", prm.AuthorizationServers)
	}

	// A real client with the token, both protocol generations; the token
	// reaches no child.
	for _, protocol := range []string{"", "2025-11-25"} {
		cs := s.connect("env", protocol, nil, authed(valid))
		if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"text": "hi"}); err != nil || got != "hi" {
			t.Errorf("%q: echo = %q, %v", protocol, got, err)
		}
	}
	for _, pid := range childrenOf(t, s.cmd.Process.Pid) {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if strings.Contains(string(env), valid) || strings.Contains(string(env), valid[len(valid)-20:]) {
			t.Errorf("child %d has the token", pid)
		}
	}
	if strings.Contains(s.stderr.String(), valid[len(valid)-20:]) {
		t.Error("the token is in serve's log")
	}
	// A session belongs to its user: another user's token does not reach it.
	resp := postAs(t, endpoint, valid, initialize, "")
	session := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	if resp := postAs(t, endpoint, iss.token(t, "bob"), `{"jsonrpc":"2.0","id":2,"method":"ping"}`, session); resp.StatusCode != 404 {
		t.Errorf("bob in alice's session: %d, want 404", resp.StatusCode)
	}
	if resp := postAs(t, endpoint, valid, `{"jsonrpc":"2.0","id":2,"method":"ping"}`, session); resp.StatusCode != 200 {
		t.Errorf("alice in her session: %d, want 200", resp.StatusCode)
	}
}

// postAs posts body with a bearer token, in a session if given.
func postAs(t *testing.T, url, token, body, session string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// What serve refuses before it listens: an http:// issuer elsewhere than
// on loopback (64), {sub} without an issuer (78), an issuer that does not
// answer (69).
func TestOIDCFlags(t *testing.T) {
	cli, envserver := build(t)
	dir := t.TempDir()
	perUser := mcpConfig(map[string]server{"env": {Command: envserver, Env: map[string]string{"TOKEN": "$<dotenv:TOKEN_{sub}>"}}})
	shared := mcpConfig(map[string]server{"env": {Command: envserver}})
	for _, tt := range []struct {
		name, config string
		args         []string
		code         int
		want         string
	}{
		{"http issuer off loopback", shared, []string{"--oidc-issuer", "http://issuer.example", "--oidc-audience", "a"}, 64, "must be https"},
		{"no audience", shared, []string{"--oidc-issuer", "https://issuer.example"}, 64, "--oidc-audience"},
		{"with --auth-token", shared, []string{"--oidc-issuer", "https://issuer.example", "--oidc-audience", "a", "--auth-token", "x"}, 64, "exclude each other"},
		{"{sub} without an issuer", perUser, nil, 78, "{sub} in a reference needs --oidc-issuer"},
		{"an issuer that does not answer", shared, []string{"--oidc-issuer", "http://127.0.0.1:1", "--oidc-audience", "a"}, 69, "discovery"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(dir+"/mcp.json", []byte(tt.config), 0o600)
			os.WriteFile(dir+"/.env", nil, 0o600)
			cmd := exec.Command(cli, append([]string{"serve", "--config", "mcp.json", "--listen", "127.0.0.1:0"}, tt.args...)...)
			cmd.Dir = dir
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %d, want %d; %s", code, tt.code, out)
			}
		})
	}
}

// Per-user secrets: {sub} in a reference path is the token's sub. Two
// users at once, each child sees only its own user's value (from a .env
// and from a real Vault KV path), in stateful sessions and in the users'
// stateless pools; a user never reaches the other's session; a sub that
// could leave its path is 403.
func TestPerUserSecrets(t *testing.T) {
	cli, envserver := build(t)
	iss := newIssuer(t)
	vault := testenv.Vault(t)
	values := map[string]map[string]string{
		"alice": {"DOTENV": "alice-dotenv-0123456789", "VAULT": "alice-vault-0123456789"},
		"bob":   {"DOTENV": "bob-dotenv-0123456789", "VAULT": "bob-vault-0123456789"},
	}
	dotenv := ""
	for user, v := range values {
		dotenv += "DOTENV_" + user + "=" + v["DOTENV"] + "\n"
		vault.Write(t, "secret/users/"+user+"/github", map[string]any{"token": v["VAULT"]})
	}
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver, Env: map[string]string{
		"DOTENV": "$<dotenv:DOTENV_{sub}>",
		"VAULT":  "$<vault:secret/users/{sub}/github#token>",
		"SHARED": "same-for-everyone",
	}}}), dotenv, []string{"VAULT_ADDR=" + vault.Addr, "VAULT_TOKEN=" + vault.Token},
		"--oidc-issuer", iss.url, "--oidc-audience", audience, "--pool-size", "1")

	type client struct {
		user, protocol string
		cs             *mcp.ClientSession
	}
	var clients []client
	for _, user := range []string{"alice", "bob"} {
		for _, protocol := range []string{"", "2025-11-25"} {
			clients = append(clients, client{user, protocol, s.connect("env", protocol, nil, authed(iss.token(t, user)))})
		}
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for name, value := range values[c.user] {
				if got, err := testenv.CallTool(t, c.cs, "get_env", map[string]any{"name": name, "encoding": "sha256"}); err != nil || got != testenv.Digest(value) {
					t.Errorf("%s %q: %s is not the user's own (%v)", c.user, c.protocol, name, err)
				}
			}
			if got, err := testenv.CallTool(t, c.cs, "get_env", map[string]any{"name": "SHARED"}); err != nil || got != "same-for-everyone" {
				t.Errorf("%s %q: SHARED = %q, %v", c.user, c.protocol, got, err)
			}
		})
	}
	wg.Wait()
	// Each child holds one user's values only: the control is that each
	// user's values are found in some child.
	found := map[string]int{}
	for _, pid := range childrenOf(t, s.cmd.Process.Pid) {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		var users []string
		for user, v := range values {
			if strings.Contains(string(env), v["DOTENV"]) && strings.Contains(string(env), v["VAULT"]) {
				users = append(users, user)
			}
		}
		if len(users) > 1 {
			t.Errorf("child %d holds the values of %v", pid, users)
		}
		for _, u := range users {
			found[u]++
		}
	}
	if found["alice"] < 2 || found["bob"] < 2 {
		t.Errorf("children per user %v, want a session's and a pool's each", found)
	}
	if got := s.metric(`mcp_secrets_children{kind="pool",server="env"}`); got != 2 {
		t.Errorf("%v pool children, want one per user", got)
	}

	// A sub that could leave its path, or one with characters outside the
	// set, is 403, and so is a user with no secrets (carol); the control,
	// a user with secrets, is let through.
	for sub, want := range map[string]int{"../bob": 403, "..": 403, "alice/../bob": 403, "a b": 403, "carol": 403, "alice": 200} {
		resp := postAs(t, s.url+"/env/mcp", iss.token(t, sub), initialize, "")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("sub %q: %d %s, want %d", sub, resp.StatusCode, body, want)
		}
	}
	for user, v := range values {
		for _, value := range v {
			if strings.Contains(s.stderr.String(), value) {
				t.Errorf("a value of %s is in serve's log", user)
			}
		}
	}
}

// Users are bounded as sessions are: at --max-sessions a new user's
// children push out those of the least recently used idle user, and a
// user without requests for --idle-timeout has none left. A user who
// comes back gets values fetched again.
func TestUserEviction(t *testing.T) {
	cli, envserver := build(t)
	iss := newIssuer(t)
	values := map[string]string{"alice": "alice-dotenv-0123456789", "bob": "bob-dotenv-0123456789"}
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver, Env: map[string]string{"TOKEN": "$<dotenv:TOKEN_{sub}>"}}}),
		"TOKEN_alice="+values["alice"]+"\nTOKEN_bob="+values["bob"]+"\n", nil,
		"--oidc-issuer", iss.url, "--oidc-audience", audience, "--pool-size", "1", "--max-sessions", "1", "--idle-timeout", "3s")
	// holders counts, per user, the children that hold the user's value.
	holders := func() map[string]int {
		out := map[string]int{}
		for _, pid := range childrenOf(t, s.cmd.Process.Pid) {
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			for user, v := range values {
				if strings.Contains(string(env), v) {
					out[user]++
				}
			}
		}
		return out
	}
	// call is one stateless tool call, a client that comes and goes.
	call := func(user string) {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_env","arguments":{"name":"TOKEN","encoding":"sha256"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
		req, _ := http.NewRequest("POST", s.url+"/env/mcp", strings.NewReader(body))
		for k, v := range map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Authorization": "Bearer " + iss.token(t, user),
			"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "get_env"} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), testenv.Digest(values[user])) {
			t.Fatalf("%s: %d %s, want the user's own value", user, resp.StatusCode, b)
		}
	}
	call("alice")
	if h := holders(); h["alice"] != 1 || h["bob"] != 0 {
		t.Fatalf("children per user %v, want alice's pool child", h)
	}
	call("bob")
	testenv.WaitFor(t, "alice's children to stop for bob's", 10*time.Second, func() bool {
		h := holders()
		return h["alice"] == 0 && h["bob"] == 1
	})
	testenv.WaitFor(t, "bob's children to stop after the idle timeout", 15*time.Second, func() bool {
		return len(childrenOf(t, s.cmd.Process.Pid)) == 0
	})
	call("alice")
	if h := holders(); h["alice"] != 1 || h["bob"] != 0 {
		t.Errorf("children per user %v, want alice's again", h)
	}
}

// A second issuer, a real one: Vault's identity tokens (its OIDC provider
// at /v1/identity/oidc, with discovery and a JWKS of its named key). A
// token of the role for the audience is taken; the control, a token of a
// role for another audience, is 401.
func TestVaultIssuer(t *testing.T) {
	cli, envserver := build(t)
	vault := testenv.Vault(t)
	c := vault.Client()
	if err := c.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("tokens", `path "identity/oidc/token/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		path string
		data map[string]any
	}{ // in order: a role names its key
		{"auth/userpass/users/alice", map[string]any{"password": "alice-password-0123", "token_policies": "tokens"}},
		{"identity/oidc/key/mcp", map[string]any{"algorithm": "RS256", "allowed_client_ids": "*"}},
		{"identity/oidc/role/mcp", map[string]any{"key": "mcp", "client_id": audience, "ttl": "1h"}},
		{"identity/oidc/role/elsewhere", map[string]any{"key": "mcp", "client_id": "another-service", "ttl": "1h"}},
	} {
		if _, err := c.Logical().Write(w.path, w.data); err != nil {
			t.Fatalf("%s: %v", w.path, err)
		}
	}
	login, err := c.Logical().Write("auth/userpass/login/alice", map[string]any{"password": "alice-password-0123"})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := c.Clone()
	alice.SetToken(login.Auth.ClientToken)
	token := func(role string) string {
		s, err := alice.Logical().Read("identity/oidc/token/" + role)
		if err != nil {
			t.Fatalf("identity token of %s: %v", role, err)
		}
		return s.Data["token"].(string)
	}
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver}}), "", nil,
		"--oidc-issuer", vault.Addr+"/v1/identity/oidc", "--oidc-audience", audience, "--pool-size", "1")
	cs := s.connect("env", "2025-11-25", nil, authed(token("mcp")))
	if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"text": "hi"}); err != nil || got != "hi" {
		t.Errorf("with Vault's identity token: %q, %v", got, err)
	}
	resp := postAs(t, s.url+"/env/mcp", token("elsewhere"), initialize, "")
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("a token for another audience: %d, want 401", resp.StatusCode)
	}
}
