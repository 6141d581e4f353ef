package audit

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
)

// hookFiles is the files pattern of the pre-commit hook.
func hookFiles(t *testing.T) *regexp.Regexp {
	t.Helper()
	b, err := os.ReadFile("../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "  files: "); ok {
			return regexp.MustCompile(strings.TrimSpace(v))
		}
	}
	t.Fatal("no files: in .pre-commit-hooks.yaml")
	return nil
}

// The hook matches exactly the names scan reads in a tree.
func TestHookMatchesConfigNames(t *testing.T) {
	re := hookFiles(t)
	for _, name := range ConfigNames {
		for _, p := range []string{name, "a/b/" + name} {
			if !re.MatchString(p) {
				t.Errorf("the hook misses %s", p)
			}
		}
		// Controls: a name that only ends like one is neither.
		if other := "x" + name; re.MatchString(other) != isConfigName(other) {
			t.Errorf("%s: hook %v, scan %v", other, re.MatchString(other), isConfigName(other))
		}
	}
	for _, p := range []string{".env", "a/.env.local", "prod.env", ".envrc", "package.json", "cursor-mcp.json", "a/mcp.json.bak", "config.yaml"} {
		base := filepath.Base(p)
		if re.MatchString(p) != (isConfigName(base) || isDotenv(base)) {
			t.Errorf("%s: hook %v, scan %v", p, re.MatchString(p), isConfigName(base) || isDotenv(base))
		}
	}
}

// One answer whatever the entry point: scan of the directory (CI) finds
// what scan of the files the hook would pass finds, every client's file
// name wherever it sits; settings.json and config.toml files of other
// programs are skipped, and named with the reason.
func TestScanTreeOneAnswer(t *testing.T) {
	dir := t.TempDir()
	s := auditest.Secrets()
	files := map[string]string{
		"deploy/claude_desktop_config.json": `{"mcpServers": {"gh": {"command": "npx", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "` + s["GITHUB_PAT"] + `"}}}}`,
		"home/.claude.json":                 `{"projects": {"/w": {"mcpServers": {"ai": {"command": "uvx", "env": {"OPENAI_API_KEY": "` + s["OPENAI_KEY"] + `"}}}}}}`,
		"windsurf/mcp_config.json":          `{"mcpServers": {"r": {"serverUrl": "https://mcp.example.com/mcp?token=` + s["GITHUB_FINE"] + `"}}}`,
		"cursor/mcp.json":                   `{"mcpServers": {"s": {"command": "npx", "args": ["--api-key", "` + s["STRIPE_KEY"] + `"]}}}`,
		".mcp.json":                         `{"mcpServers": {"a": {"command": "node", "env": {"ANTHROPIC_API_KEY": "` + s["ANTHROPIC_KEY"] + `"}}}}`,
		"gemini/settings.json":              `{"theme": "x", "mcpServers": {"g": {"httpUrl": "https://g.example.com/mcp", "headers": {"Authorization": "Bearer ` + s["GENERIC_SECRET"] + `"}}}}`,
		"codex/config.toml":                 "[mcp_servers.sl]\ncommand = \"npx\"\nenv = { SLACK_BOT_TOKEN = \"" + s["SLACK_TOKEN"] + "\" }\n",
		"app/.env":                          "GITLAB_TOKEN=" + s["GITLAB_PAT"] + "\n",
		// Other programs' files by those names.
		".vscode/settings.json": `{"editor.fontSize": 14, "servers": [{"host": "a"}]}`,
		"site/config.toml":      "baseURL = \"https://example.org/\"\n[params]\ntoken = 'not-mcp'\n",
		"tool/settings.json":    "not json at all: " + s["NPM_TOKEN"],
		"notes.json":            `{"mcpServers": {"n": {"command": "x", "env": {"K": "` + s["LINEAR_KEY"] + `"}}}}`,
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
	// What pre-commit would pass: the tree's files its pattern matches.
	re := hookFiles(t)
	var staged []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, path)
		if err == nil && !d.IsDir() && re.MatchString(filepath.ToSlash(rel)) {
			staged = append(staged, rel)
		}
		return nil
	})
	report := func(r Report) (found, skipped []string) {
		for _, f := range r.Findings {
			found = append(found, f.File+" "+f.Location+" "+f.Rule)
		}
		for _, sk := range r.Skipped {
			skipped = append(skipped, sk.File+": "+sk.Reason)
		}
		slices.Sort(skipped)
		if len(r.Errors) > 0 {
			t.Errorf("errors: %v", r.Errors)
		}
		return found, skipped
	}
	byDir, skippedByDir := report(newScanner(t, t.TempDir(), dir).Scan(context.Background(), []string{"."}))
	byFile, skippedByFile := report(newScanner(t, t.TempDir(), dir).Scan(context.Background(), staged))
	want := []string{
		".mcp.json mcpServers.a.env.ANTHROPIC_API_KEY anthropic-api-key",
		"app/.env app/.env dotenv-readable",
		"app/.env GITLAB_TOKEN gitlab-pat",
		"codex/config.toml mcp_servers.sl.env.SLACK_BOT_TOKEN slack-bot-token",
		"cursor/mcp.json mcpServers.s.args[1] stripe-access-token",
		"deploy/claude_desktop_config.json mcpServers.gh.env.GITHUB_PERSONAL_ACCESS_TOKEN github-pat",
		"gemini/settings.json mcpServers.g.headers.Authorization secret-variable",
		`home/.claude.json projects["/w"].mcpServers.ai.env.OPENAI_API_KEY openai-api-key`,
		"windsurf/mcp_config.json mcpServers.r.serverUrl github-fine-grained-pat",
	}
	wantSkipped := []string{
		".vscode/settings.json: " + NoServers,
		"site/config.toml: " + NoServers,
		"tool/settings.json: " + NotAConfig,
	}
	for _, got := range []struct {
		what           string
		found, skipped []string
	}{{"scan DIR", byDir, skippedByDir}, {"scan FILES", byFile, skippedByFile}} {
		if strings.Join(got.found, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s found:\n%s\nwant:\n%s", got.what, strings.Join(got.found, "\n"), strings.Join(want, "\n"))
		}
		if strings.Join(got.skipped, "\n") != strings.Join(wantSkipped, "\n") {
			t.Errorf("%s skipped:\n%s\nwant:\n%s", got.what, strings.Join(got.skipped, "\n"), strings.Join(wantSkipped, "\n"))
		}
	}
	// The control: notes.json holds a secret, and is read when named.
	if r := newScanner(t, t.TempDir(), dir).Scan(context.Background(), []string{"notes.json"}); len(r.Findings) != 1 {
		t.Errorf("notes.json named: %d findings, want 1", len(r.Findings))
	}
}
