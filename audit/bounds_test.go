package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
)

// A file too large, or a config not of a config's shape, is an error that
// names the file (and the JSON path), never its content; the other files
// are still scanned. The large files are sparse: a scan that read them
// would show in the time and memory it took.
func TestScanBounds(t *testing.T) {
	dir := t.TempDir()
	s := auditest.Secrets()
	files := map[string]string{
		"ok/.mcp.json":           `{"mcpServers": {"a": {"command": "x", "env": {"K": "` + s["GITHUB_PAT"] + `"}}}}`,
		"ok/.env":                "K=" + s["STRIPE_KEY"] + "\n",
		"shape/.mcp.json":        `{"mcpServers": {"x": 5, "y": {"env": {"K": "` + s["OPENAI_KEY"] + `"}}}}`,
		"shape/.vscode/mcp.json": `[1, 2, 3]`,
		"shape/.cursor/mcp.json": `{"mcpServers": null}`,
		"shape/.env":             "A B=" + s["SLACK_TOKEN"] + "\n",
		"codex.toml":             "[mcp_servers.a]\nargs = '" + s["GITHUB_PAT"] + "'\n",
		"max/.env":               "A=" + strings.Repeat("v", dotenv.MaxFile-3) + "\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, size := range map[string]int64{"big/.mcp.json": MaxConfig + 1, "big/.env": dotenv.MaxFile + 1} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	sc := newScanner(t, t.TempDir(), dir)
	var r Report
	n := testenv.Allocated(func() { r = sc.Scan(context.Background(), []string{"ok", "shape", "big", "max", "codex.toml"}) })
	var got []string
	for _, f := range r.Findings {
		got = append(got, summary(f))
	}
	want := []string{
		"ok/.env:1 ok/.env dotenv-readable ",
		"ok/.env:1 K stripe-access-token sk_l…(32 chars)",
		"ok/.mcp.json:1 mcpServers.a.env.K github-pat ghp_…(40 chars)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var errs []string
	for _, err := range r.Errors {
		errs = append(errs, err.Error())
	}
	wantErrs := []string{
		"shape/.cursor/mcp.json: line 1: mcpServers: null, want an object",
		"shape/.env: line 1: malformed: a variable name holds a character other than letters, digits, \"_\" and \".\"",
		"shape/.mcp.json: line 1: mcpServers.x: a number, want an object",
		"shape/.vscode/mcp.json: line 1: the top level: an array, want an object",
		"big/.env: larger than 1 MiB",
		"big/.mcp.json: larger than 64 MiB",
		"codex.toml: line 2: mcp_servers.a.args: a string, want an array",
	}
	if strings.Join(errs, "\n") != strings.Join(wantErrs, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(wantErrs, "\n"))
	}
	noLeak(t, "errors", []byte(strings.Join(errs, "\n")))
	if r.Files != 10 || len(r.Skipped) != 0 {
		t.Errorf("scanned %d files, skipped %v; want 10, none", r.Files, r.Skipped)
	}
	// The control: the 1 MiB .env at the limit was read, so the measure
	// sees that much; the 64 MiB config was not.
	if n < dotenv.MaxFile || n > 32<<20 {
		t.Errorf("the scan allocated %d bytes: want the 1 MiB file read and the 64 MiB one not", n)
	}
}
