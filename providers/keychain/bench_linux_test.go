package keychain_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/keychain"
)

// BenchmarkResolve resolves 1 and 10 references to different items of a
// real Secret Service through the resolver the launcher uses: what the
// keychain adds to a launch.
func BenchmarkResolve(b *testing.B) {
	ss := secretService(b)
	for i := range 10 {
		ss.Store(b, "bench", fmt.Sprint(i), fmt.Sprintf("value-%d", i))
	}
	r := resolver(keychain.New(keychain.Options{}))
	for _, n := range []int{1, 10} {
		vars := make([]providers.Var, n)
		for i := range vars {
			vars[i] = providers.Var{Name: fmt.Sprint("V", i), Value: fmt.Sprintf("$<keychain:bench/%d>", i)}
		}
		b.Run(fmt.Sprintf("refs=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Resolve(context.Background(), vars); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
