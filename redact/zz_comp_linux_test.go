package redact

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestZZComp(t *testing.T) {
	if os.Getenv("ZZCPU") == "" {
		t.Skip()
	}
	var text strings.Builder
	for i := 0; text.Len() < 1<<20; i++ {
		text.WriteString("func main() { fmt.Println(\\\"hello, world\\\") } // line of source code ....")
		text.WriteString(`\n`)
	}
	for _, n := range []int{1, 100, 1000} {
		secrets := benchSecrets(n)
		r := New(secrets)
		line := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` + text.String() + secrets[0].Value + `"}]}}` + "\n")
		fmt.Printf("maxPat %d npats %d\n", r.maxPat, len(r.pats))
		fmt.Printf("next/%d: %.0f MB/s\n", n, cpuRate(len(line), func() { r.next(line[:len(line)-50], 0) }))
		if n == 1 {
			var v, raw view
			raw.b = line
			fmt.Printf("build: %.0f MB/s\n", cpuRate(len(line), func() { r.build(&v, jsonEsc, &raw, false) }))
			fmt.Printf("wins %d cover %d\n", len(v.wins), func() int { c := 0; for _, w := range v.wins { c += w.hi - w.lo }; return c }())
			var v2 view
			fmt.Printf("build lb: %.0f MB/s\n", cpuRate(len(line), func() { r.build(&v2, lineBreaks, &v, false) }))
			fmt.Printf("validJSON: %.0f MB/s\n", cpuRate(len(line), func() { validJSON(line) }))
			fmt.Printf("stringEnd: %.0f MB/s\n", cpuRate(len(line), func() { stringEnd(line, 68) }))
		}
	}
}

func TestZZPct(t *testing.T) {
	if os.Getenv("ZZCPU") == "" {
		t.Skip()
	}
	r := New(benchSecrets(100))
	var text strings.Builder
	for text.Len() < 1<<20 {
		text.WriteString("GET /search?q=caf%C3%A9+au+lait&lang=fr%2Dfr 200 OK; disk 95% full; ")
	}
	line := []byte(text.String() + "\n")
	var v, raw view
	raw.b = line
	fmt.Printf("pct build: %.0f MB/s\n", cpuRate(len(line), func() { r.build(&v, percent, &raw, false) }))
	fmt.Printf("wins %d cover %d\n", len(v.wins), func() int { c := 0; for _, w := range v.wins { c += w.hi - w.lo }; return c }())
}
