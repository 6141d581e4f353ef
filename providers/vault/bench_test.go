package vault_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// BenchmarkResolve resolves n references to n different KV v2 secrets (and
// n references to one secret) through the real resolver, against the same
// fetches made one at a time. calls/op are the API calls one resolution
// makes, counted once, untimed, through a counting proxy (warm: the login
// and mount lookup are behind it).
func BenchmarkResolve(b *testing.B) {
	v := testenv.Vault(b)
	for i := range 100 {
		v.Write(b, fmt.Sprintf("secret/bench/%d", i), map[string]any{"value": fmt.Sprintf("value-%d", i)})
	}
	ctx := context.Background()
	direct := newProvider(b, vaultEnv(v.Addr, v.Token))
	proxy := countRequests(b, v.Addr)
	counted := newProvider(b, vaultEnv(proxy.URL, v.Token))

	vars := func(n, secrets int) []providers.Var {
		out := make([]providers.Var, n)
		for i := range out {
			out[i] = providers.Var{Name: fmt.Sprintf("V%d", i), Value: fmt.Sprintf("$<vault:secret/bench/%d#value>", i%secrets)}
		}
		return out
	}
	// callsPerResolution resolves once through the proxy, counting.
	callsPerResolution := func(b *testing.B, resolve func(*harness) error) float64 {
		if err := resolve(counted); err != nil { // warm up: mount lookup
			b.Fatal(err)
		}
		proxy.reset()
		if err := resolve(counted); err != nil {
			b.Fatal(err)
		}
		return float64(proxy.n(""))
	}

	for _, tc := range []struct{ refs, secrets int }{{1, 1}, {10, 10}, {100, 100}, {100, 1}} {
		vs := vars(tc.refs, tc.secrets)
		resolver := func(h *harness) error {
			_, err := h.resolver().Resolve(ctx, vs)
			return err
		}
		sequential := func(h *harness) error {
			for _, v := range vs {
				tmpl, err := providers.Parse(v.Value)
				if err != nil {
					return err
				}
				ref := tmpl.Refs()[0]
				ref.Field = ""
				s, err := h.p.Fetch(ctx, ref)
				if err != nil {
					return err
				}
				if _, err := s.Field("value"); err != nil {
					return err
				}
			}
			return nil
		}
		for _, way := range []struct {
			name    string
			resolve func(*harness) error
		}{{"resolver", resolver}, {"one-at-a-time", sequential}} {
			b.Run(fmt.Sprintf("refs=%d/secrets=%d/%s", tc.refs, tc.secrets, way.name), func(b *testing.B) {
				calls := callsPerResolution(b, way.resolve)
				if err := way.resolve(direct); err != nil { // warm up
					b.Fatal(err)
				}
				for b.Loop() {
					if err := way.resolve(direct); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(calls, "calls/op")
			})
		}
	}
}
