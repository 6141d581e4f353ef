package vault_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/vault"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// counter is a reverse proxy in front of a real Vault that counts the
// requests the provider makes, by "METHOD /v1/path".
type counter struct {
	URL  string
	mu   sync.Mutex
	reqs []string
}

func countRequests(t testing.TB, target string) *counter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// n counts the requests whose "METHOD /v1/path" starts with prefix.
func (c *counter) n(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (c *counter) reset() {
	c.mu.Lock()
	c.reqs = nil
	c.mu.Unlock()
}

// harness is a provider under test with the environment it reads, its log,
// and the values and credentials that must never appear in either its log
// or its errors.
type harness struct {
	t      testing.TB
	p      *vault.Provider
	log    *testenv.Buffer
	hidden []string
}

// newProvider returns a provider reading env alone (HOME is a fresh temp
// dir unless env sets it), closed and checked for leaks in its log when the
// test ends. hidden are values that must never show.
func newProvider(t testing.TB, env map[string]string, hidden ...string) *harness {
	t.Helper()
	if _, ok := env["HOME"]; !ok {
		env["HOME"] = t.TempDir()
	}
	h := &harness{t: t, log: &testenv.Buffer{}, hidden: hidden}
	log := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.p = vault.New(vault.Options{Getenv: func(k string) string { return env[k] }, Log: log})
	t.Cleanup(func() {
		h.p.Close()
		h.noLeak("log", h.log.String())
		if t.Failed() {
			t.Logf("provider log:\n%s", h.log.String())
		}
	})
	return h
}

// hide adds values that must never show.
func (h *harness) hide(values ...string) { h.hidden = append(h.hidden, values...) }

// noLeak fails the test if text holds a hidden value.
func (h *harness) noLeak(what, text string) {
	h.t.Helper()
	for _, v := range h.hidden {
		if v != "" && strings.Contains(text, v) {
			h.t.Errorf("%s shows a secret value or credential (%d chars): %s", what, len(v), text)
		}
	}
}

// resolver resolves through the real resolver, with vault as the default.
func (h *harness) resolver() *providers.Resolver {
	return &providers.Resolver{
		Providers: map[string]providers.Provider{"vault": h.p},
		Default:   "vault",
		Fallback:  providers.FallbackOff,
		Timeout:   10 * time.Second,
	}
}

// resolve resolves vars given as name=value pairs and returns the values
// by name, and the error (checked for leaks).
func (h *harness) resolve(pairs ...string) (map[string]providers.Resolved, error) {
	h.t.Helper()
	var vars []providers.Var
	for i := 0; i < len(pairs); i += 2 {
		vars = append(vars, providers.Var{Name: pairs[i], Value: pairs[i+1]})
	}
	res, err := h.resolver().Resolve(context.Background(), vars)
	if err != nil {
		h.noLeak("error", err.Error())
	}
	out := map[string]providers.Resolved{}
	for _, r := range res {
		out[r.Name] = r
	}
	return out, err
}

// fetch fetches one reference directly, checking the error for leaks.
func (h *harness) fetch(ctx context.Context, ref string) (providers.Secret, error) {
	h.t.Helper()
	tmpl, err := providers.Parse(ref)
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := h.p.Fetch(ctx, tmpl.Refs()[0])
	if err != nil {
		h.noLeak("error", err.Error())
	}
	return s, err
}

// vaultEnv is the environment of a provider talking to addr with token.
func vaultEnv(addr, token string) map[string]string {
	return map[string]string{"VAULT_ADDR": addr, "VAULT_TOKEN": token}
}
