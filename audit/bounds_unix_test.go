//go:build unix

package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// A tree scanned (a pre-commit hook's untrusted repository) cannot make
// scan read a device, wait on a FIFO, or read through a symlink out of
// the tree; it reports each such file as skipped, with why. A symlink to a
// regular file in the tree is read (the control that symlinks are
// followed at all). Unix only: Windows has neither /dev/zero nor mkfifo.
func TestScanSkipsWhatIsNoFile(t *testing.T) {
	dir := t.TempDir()
	s := auditest.Secrets()
	repo := filepath.Join(dir, "repo")
	for name, data := range map[string]string{
		"outside/.env":         "K=" + s["STRIPE_KEY"] + "\n",
		"repo/real.json":       `{"mcpServers": {"a": {"command": "x", "env": {"K": "` + s["GITHUB_PAT"] + `"}}}}`,
		"repo/secrets/app.env": "K=" + s["SLACK_TOKEN"] + "\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"repo/.env":             "/dev/zero",
		"repo/a/.env.local":     "../../outside/.env",
		"repo/b/.env":           filepath.Join(dir, "outside/.env"),
		"repo/.vscode/mcp.json": "../real.json",
		"repo/c/.env":           "../secrets/app.env",
		"repo/d/.env":           "nothing",
		"repo/e/.env":           "../secrets",
		"repo/f/.env":           "../.cursor/mcp.json",
	} {
		p := filepath.Join(dir, link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(repo, ".cursor"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(repo, ".cursor/mcp.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := newScanner(t, t.TempDir(), dir)
	var r Report
	start := time.Now()
	n := testenv.Allocated(func() { r = sc.Scan(context.Background(), []string{"repo", "/dev/zero", "repo/b/.env"}) })
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
	var skipped []string
	for _, sk := range r.Skipped {
		skipped = append(skipped, sk.File+": "+sk.Reason)
	}
	want := []string{
		"repo/.cursor/mcp.json: not a regular file",
		"repo/.env: symlink out of the scanned tree",
		"repo/a/.env.local: symlink out of the scanned tree",
		"repo/b/.env: symlink out of the scanned tree",
		"repo/d/.env: not a regular file",
		"repo/e/.env: not a regular file",
		"repo/f/.env: not a regular file",
		"/dev/zero: not a regular file",
	}
	if strings.Join(skipped, "\n") != strings.Join(want, "\n") {
		t.Errorf("skipped:\n%s\nwant:\n%s", strings.Join(skipped, "\n"), strings.Join(want, "\n"))
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, summary(f))
	}
	// repo/c/.env is secrets/app.env, read once; the named repo/b/.env,
	// out of the tree, is the user's choice and read.
	wantFindings := []string{
		"repo/.vscode/mcp.json:1 mcpServers.a.env.K github-pat ghp_…(40 chars)",
		"repo/b/.env:1 repo/b/.env dotenv-readable ",
		"repo/b/.env:1 K stripe-access-token sk_l…(32 chars)",
		"repo/c/.env:1 repo/c/.env dotenv-readable ",
		"repo/c/.env:1 K slack-bot-token xoxb…(56 chars)",
	}
	if strings.Join(got, "\n") != strings.Join(wantFindings, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantFindings, "\n"))
	}
	if n > 32<<20 || time.Since(start) > 5*time.Second {
		t.Errorf("the scan allocated %d bytes in %s", n, time.Since(start))
	}
}
