package redact

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuRate(n int, f func()) float64 {
	f()
	best := 0.0
	for range 5 {
		start := cpuNow()
		iters := 0
		for cpuNow()-start < 400*time.Millisecond {
			f()
			iters++
		}
		d := cpuNow() - start
		best = max(best, float64(n*iters)/d.Seconds()/1e6)
	}
	return best
}

func TestZZCPU(t *testing.T) {
	if os.Getenv("ZZCPU") == "" {
		t.Skip()
	}
	for _, n := range []int{1, 100, 1000} {
		secrets := benchSecrets(n)
		r := New(secrets)
		text := strings.Repeat("The quick brown fox jumps over the lazy dog; 0123456789 ", 1<<20/56)
		line := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` + text + secrets[0].Value + `"}]}}` + "\n")
		buf := make([]byte, 0, len(line)+64)
		fmt.Printf("plain/%d: %.0f MB/s\n", n, cpuRate(len(line), func() { buf = r.JSON(buf[:0], line) }))
	}
	for _, n := range []int{1, 100, 1000} {
		secrets := benchSecrets(n)
		r := New(secrets)
		var text strings.Builder
		for i := 0; text.Len() < 1<<20; i++ {
			text.WriteString("func main() { fmt.Println(\\\"hello, world\\\") } // line of source code ....")
			text.WriteString(`\n`)
		}
		line := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` + text.String() + secrets[0].Value + `"}]}}` + "\n")
		buf := make([]byte, 0, len(line)+64)
		fmt.Printf("escaped/%d: %.0f MB/s\n", n, cpuRate(len(line), func() { buf = r.JSON(buf[:0], line) }))
	}
	{
		r := New(benchSecrets(100))
		var text strings.Builder
		for text.Len() < 1<<20 {
			text.WriteString("GET /search?q=caf%C3%A9+au+lait&lang=fr%2Dfr 200 OK; disk 95% full; ")
		}
		line := []byte(text.String() + "\n")
		buf := make([]byte, 0, len(line)+64)
		fmt.Printf("percent/100: %.0f MB/s\n", cpuRate(len(line), func() { buf = r.Text(buf[:0], line) }))
	}
	{
		var set Set
		set.Store(New(benchSecrets(100)))
		var text bytes.Buffer
		for i := 0; text.Len() < 1<<20; i++ {
			fmt.Fprintf(&text, "2026-01-02T03:04:05Z INFO request %d served in 12ms, path=/api/v1/items status=200\n", i)
		}
		in := text.Bytes()
		w := NewWriter(io.Discard, &set, false)
		fmt.Printf("writer/100: %.0f MB/s\n", cpuRate(len(in), func() {
			for off := 0; off < len(in); off += 32 << 10 {
				w.Write(in[off:min(off+32<<10, len(in))])
			}
		}))
	}
}

func TestZZNested(t *testing.T) {
	if os.Getenv("ZZCPU") == "" {
		t.Skip()
	}
	for _, n := range []int{1, 100} {
		secrets := benchSecrets(n)
		r := New(secrets)
		var text strings.Builder
		for i := 0; text.Len() < 1<<20; i++ {
			text.WriteString(`{\"path\":\"src\/main.go\",\"line\":42,\"text\":\"func main() { fmt.Println(\\\"hello, world\\\") }\\n\"},`)
		}
		line := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"[` + text.String() + secrets[0].Value + `]"}]}}` + "\n")
		buf := make([]byte, 0, len(line)+64)
		fmt.Printf("nested/%d: %.0f MB/s\n", n, cpuRate(len(line), func() { buf = r.JSON(buf[:0], line) }))
	}
}
