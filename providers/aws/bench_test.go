package aws_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/providers"
	awsprovider "github.com/mcp-secrets/mcp-secrets/providers/aws"
)

// BenchmarkResolve resolves N references to N secrets through the real
// resolver against kumo, then the same 100 one fetch at a time, and 100
// fields of one JSON secret. calls/op is the number of Secrets Manager
// requests per resolution, counted in one resolution through the proxy
// (the timed ones go to kumo directly, so the proxy costs nothing).
func BenchmarkResolve(b *testing.B) {
	f := newFixture(b)
	direct := awsprovider.New(awsprovider.Options{Getenv: envOf(f.kumo.Env()).get})
	fields := make([]string, 100)
	for i := range 100 {
		f.create(b, fmt.Sprint("s", i), fmt.Sprint("value-", i), nil)
		fields[i] = fmt.Sprintf(`"k%d":"value-%d"`, i, i)
	}
	f.create(b, "json", "{"+strings.Join(fields, ",")+"}", nil)
	vars := func(n int, ref string) []providers.Var {
		var vs []providers.Var
		for i := range n {
			vs = append(vs, providers.Var{Name: fmt.Sprint("V", i), Value: fmt.Sprintf(ref, f.prefix, i)})
		}
		return vs
	}
	ctx := context.Background()
	resolver := func(p providers.Provider) *providers.Resolver {
		return &providers.Resolver{Providers: map[string]providers.Provider{"aws": p}, Timeout: 10 * time.Second}
	}
	counted, timed := resolver(f.p), resolver(direct)
	// The first fetch loads the SDK configuration: every case starts warm.
	for _, r := range []*providers.Resolver{counted, timed} {
		if _, err := r.Resolve(ctx, vars(1, "$<aws:%ss%d>")); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, resolve func(*providers.Resolver) error) {
		f.proxy.Reset()
		if err := resolve(counted); err != nil {
			b.Fatal(err)
		}
		calls := f.proxy.Calls("GetSecretValue")
		for b.Loop() {
			if err := resolve(timed); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(calls), "calls/op")
	}
	for _, n := range []int{1, 10, 100} {
		vs := vars(n, "$<aws:%ss%d>")
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			run(b, func(r *providers.Resolver) error { _, err := r.Resolve(ctx, vs); return err })
		})
	}
	b.Run("100-sequential", func(b *testing.B) {
		run(b, func(r *providers.Resolver) error {
			for i := range 100 {
				ref := providers.Ref{Provider: "aws", Path: fmt.Sprintf("%ss%d", f.prefix, i)}
				if _, err := r.Providers["aws"].Fetch(ctx, ref); err != nil {
					return err
				}
			}
			return nil
		})
	})
	vs := vars(100, "$<aws:%sjson#k%d>")
	b.Run("100-fields-of-one", func(b *testing.B) {
		run(b, func(r *providers.Resolver) error { _, err := r.Resolve(ctx, vs); return err })
	})
}

// BenchmarkResolveLatency is BenchmarkResolve with a 20 ms round trip, as to
// AWS from outside its region, where waiting, not CPU, decides: N references
// to N secrets through the real resolver (with its default bound of 16
// parallel fetches, and with 100), and the same 100 one at a time.
func BenchmarkResolveLatency(b *testing.B) {
	f := newFixture(b)
	var vs []providers.Var
	for i := range 100 {
		f.create(b, fmt.Sprint("s", i), fmt.Sprint("value-", i), nil)
		vs = append(vs, providers.Var{Name: fmt.Sprint("V", i), Value: fmt.Sprintf("$<aws:%ss%d>", f.prefix, i)})
	}
	r := &providers.Resolver{Providers: map[string]providers.Provider{"aws": f.p}, Timeout: 10 * time.Second}
	ctx := context.Background()
	if _, err := r.Resolve(ctx, vs); err != nil { // warm: configuration loaded, connections open
		b.Fatal(err)
	}
	f.proxy.SetLatency(20 * time.Millisecond)
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Resolve(ctx, vs[:n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The resolver's bound on parallel fetches (16) decides the 100 case:
	// the same with all 100 at once.
	b.Run("100-parallel-100", func(b *testing.B) {
		r := *r
		r.Parallel = 100
		for b.Loop() {
			if _, err := r.Resolve(ctx, vs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("100-sequential", func(b *testing.B) {
		for b.Loop() {
			for i := range 100 {
				if _, err := f.p.Fetch(ctx, providers.Ref{Provider: "aws", Path: fmt.Sprintf("%ss%d", f.prefix, i)}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
