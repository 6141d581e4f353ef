package redact

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

func benchSecrets(n int) []Secret {
	var secrets []Secret
	for i := range n {
		secrets = append(secrets, Secret{Name: fmt.Sprintf("VAR_%d", i), Value: fmt.Sprintf("secret-%d-%x", i, i*7919)})
	}
	return secrets
}

// BenchmarkJSON redacts a 1 MiB tool result holding one secret, with 1, 100
// and 1,000 secrets known: the cost per byte must not grow with them.
func BenchmarkJSON(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			secrets := benchSecrets(n)
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

// BenchmarkEscaped: a realistic tool result, 1 MiB of text with a \n escape
// every 80 bytes and a \" now and then, the way a server returns a file or
// a command's output.
func BenchmarkEscaped(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			secrets := benchSecrets(n)
			r := New(secrets)
			var text strings.Builder
			for i := 0; text.Len() < 1<<20; i++ {
				text.WriteString("func main() { fmt.Println(\\\"hello, world\\\") } // line of source code ....")
				text.WriteString(`\n`)
			}
			line := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` + text.String() + secrets[0].Value + `"}]}}` + "\n")
			b.SetBytes(int64(len(line)))
			buf := make([]byte, 0, len(line)+64)
			for b.Loop() {
				buf = r.JSON(buf[:0], line)
			}
		})
	}
}

// BenchmarkNested: a tool that returns JSON as text, 1 MiB of it: escapes
// at two levels, some of which decode to bytes a value may hold (\/ is '/'),
// so the decoded views are built and searched around those.
func BenchmarkNested(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			secrets := benchSecrets(n)
			r := New(secrets)
			var text strings.Builder
			for text.Len() < 1<<20 {
				text.WriteString(`{\"path\":\"src\/main.go\",\"line\":42,\"text\":\"func main() { fmt.Println(\\\"hello, world\\\") }\\n\"},`)
			}
			line := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"[` + text.String() + secrets[0].Value + `]"}]}}` + "\n")
			b.SetBytes(int64(len(line)))
			buf := make([]byte, 0, len(line)+64)
			for b.Loop() {
				buf = r.JSON(buf[:0], line)
			}
		})
	}
}

// BenchmarkPercent: 1 MiB of log text with a URL-encoded query every few
// lines: each %XX is looked at, and the decoded view built only if a match
// may touch what one decodes to.
func BenchmarkPercent(b *testing.B) {
	r := New(benchSecrets(100))
	var text strings.Builder
	for text.Len() < 1<<20 {
		text.WriteString("GET /search?q=caf%C3%A9+au+lait&lang=fr%2Dfr 200 OK; disk 95% full; ")
	}
	line := []byte(text.String() + "\n")
	b.SetBytes(int64(len(line)))
	buf := make([]byte, 0, len(line)+64)
	for b.Loop() {
		buf = r.Text(buf[:0], line)
	}
}

// BenchmarkWriter: a child's stderr, lines of about 100 bytes written in
// 32 KiB reads, as the supervisor relays it.
func BenchmarkWriter(b *testing.B) {
	var set Set
	set.Store(New(benchSecrets(100)))
	var text bytes.Buffer
	for i := 0; text.Len() < 1<<20; i++ {
		fmt.Fprintf(&text, "2026-01-02T03:04:05Z INFO request %d served in 12ms, path=/api/v1/items status=200\n", i)
	}
	in := text.Bytes()
	w := NewWriter(io.Discard, &set, false)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		for off := 0; off < len(in); off += 32 << 10 {
			w.Write(in[off:min(off+32<<10, len(in))])
		}
	}
}
