package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkScanHome is `mcp-secrets scan` with no path, run from a home
// directory: every client config of the fixture, and a tree of 1,000 other
// files (20 projects, each with a .git and a node_modules it must skip, and
// a private .env).
func BenchmarkScanHome(b *testing.B) {
	dir := b.TempDir()
	writeArchive(b, dir, "testdata/home.txtar")
	home := filepath.Join(dir, "home")
	files := 0
	for p := range 20 {
		proj := filepath.Join(home, "code", fmt.Sprintf("project%d", p))
		write := func(rel, content string) {
			path := filepath.Join(proj, rel)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				b.Fatal(err)
			}
			files++
		}
		write(".env", "API_URL=https://api.example.com\nLOG_LEVEL=debug\n")
		write(".git/HEAD", "ref: refs/heads/main\n")
		write("node_modules/pkg/.env", "X=1\n")
		for i := range 47 {
			write(fmt.Sprintf("src/pkg%d/file%d.go", i%5, i), "package x\n")
		}
	}
	if files != 1000 {
		b.Fatalf("%d files", files)
	}
	s := newScanner(b, home, home)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		r := s.Scan(ctx, nil)
		if len(r.Errors) != 0 || len(r.Findings) == 0 {
			b.Fatal(r.Errors, len(r.Findings))
		}
	}
}

// BenchmarkScanHomeCold adds the first scan's own cost: parsing the rules
// and compiling the regexps the configs need, as each mcp-secrets scan does.
func BenchmarkScanHomeCold(b *testing.B) {
	dir := b.TempDir()
	writeArchive(b, dir, "testdata/home.txtar")
	home := filepath.Join(dir, "home")
	ctx := context.Background()
	for b.Loop() {
		s := newScanner(b, home, home)
		if r := s.Scan(ctx, nil); len(r.Findings) == 0 {
			b.Fatal("no findings")
		}
	}
}
