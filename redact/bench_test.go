package redact

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkJSON redacts a 1 MiB tool result holding one secret, with 1, 100
// and 1,000 secrets known: the cost per byte must not grow with them.
func BenchmarkJSON(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			var secrets []Secret
			for i := range n {
				secrets = append(secrets, Secret{Name: fmt.Sprintf("VAR_%d", i), Value: fmt.Sprintf("secret-%d-%x", i, i*7919)})
			}
			r := New(secrets)
			text := strings.Repeat("The quick brown fox jumps over the lazy dog; 0123456789 ", 1<<20/56)
			line := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` + text + secrets[0].Value + `"}]}}` + "\n")
			b.SetBytes(int64(len(line)))
			buf := make([]byte, 0, len(line)+64)
			for b.Loop() {
				buf = r.JSON(buf[:0], line)
			}
		})
	}
}
