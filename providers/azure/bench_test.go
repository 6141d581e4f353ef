package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
)

// launchTransport is a new connection pool to the test server, as a
// launcher process starts with: each resolution pays its TLS handshakes.
func launchTransport(s *azuretest.Server) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.Addr())
		},
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
}

// BenchmarkResolve resolves N references to M secrets through the real
// resolver, with a new provider and connection pool each time (a launch),
// all at once ("parallel", the resolver's default) and one fetch at a time
// ("serial"). rtt=5ms delays each authorized request as a vault across a
// network would (the loopback has none). calls/op counts authorized
// requests, challenges/op the 401 round trips.
func BenchmarkResolve(b *testing.B) {
	for _, bc := range []struct{ refs, secrets int }{{1, 1}, {10, 10}, {100, 100}, {100, 1}} {
		s := azuretest.New(b, azuretest.Options{})
		var vars []providers.Var
		if bc.secrets == 1 && bc.refs > 1 {
			fields := make([]string, bc.refs)
			for i := range fields {
				fields[i] = fmt.Sprintf(`"k%d":"value %d"`, i, i)
			}
			s.Set("app", "{"+strings.Join(fields, ",")+"}")
			for i := range bc.refs {
				vars = append(vars, providers.Var{Name: fmt.Sprintf("V%d", i), Value: fmt.Sprintf("$<azure:testvault/app#k%d>", i)})
			}
		} else {
			for i := range bc.secrets {
				s.Set(fmt.Sprintf("s%d", i), fmt.Sprintf("value %d", i))
				vars = append(vars, providers.Var{Name: fmt.Sprintf("V%d", i), Value: fmt.Sprintf("$<azure:testvault/s%d>", i)})
			}
		}
		for _, mode := range []struct {
			name     string
			parallel int
			rtt      time.Duration
		}{{"parallel", 0, 0}, {"serial", 1, 0}, {"parallel", 0, 5 * time.Millisecond}, {"serial", 1, 5 * time.Millisecond}} {
			b.Run(fmt.Sprintf("refs=%d/secrets=%d/rtt=%v/%s", bc.refs, bc.secrets, mode.rtt, mode.name), func(b *testing.B) {
				if mode.rtt > 0 {
					s.SetHook(func(http.ResponseWriter, azuretest.Request) bool {
						time.Sleep(mode.rtt)
						return false
					})
					defer s.SetHook(nil)
				}
				before := len(s.Requests())
				for b.Loop() {
					p := New(Options{Getenv: func(string) string { return "" }, Credential: s.Credential(), Transport: launchTransport(s)})
					r := &providers.Resolver{Providers: map[string]providers.Provider{"azure": p}, Parallel: mode.parallel, Timeout: 10 * time.Second}
					if _, err := r.Resolve(b.Context(), vars); err != nil {
						b.Fatal(err)
					}
				}
				calls, challenges := 0, 0
				for _, r := range s.Requests()[before:] {
					if r.Authorized {
						calls++
					} else {
						challenges++
					}
				}
				b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
				b.ReportMetric(float64(challenges)/float64(b.N), "challenges/op")
			})
		}
	}
}
