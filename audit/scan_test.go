package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
	"github.com/rogpeppe/go-internal/txtar"
	"github.com/xeipuuv/gojsonschema"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
)

// writeArchive writes a txtar archive under dir, with the secrets filled in.
func writeArchive(t testing.TB, dir, archive string) {
	t.Helper()
	a, err := txtar.ParseFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range a.Files {
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(auditest.Expand(string(f.Data))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func newScanner(t testing.TB, home, dir string) *Scanner {
	t.Helper()
	d, err := rules.New()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home}
	return &Scanner{Detector: d, Getenv: func(k string) string { return env[k] }, GOOS: "linux", Dir: dir}
}

// summary is a finding as "file:line location rule masked".
func summary(f Finding) string {
	return fmt.Sprintf("%s:%d %s %s %s", f.File, f.Line, f.Location, f.Rule, f.Masked)
}

func TestScanClients(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, "testdata/home.txtar")
	if err := os.Chmod(filepath.Join(dir, "project/sub/.env.local"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "project/refs/.env"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	r := newScanner(t, home, filepath.Join(dir, "project")).Scan(context.Background(), nil)
	if len(r.Errors) != 0 {
		t.Fatalf("errors: %v", r.Errors)
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, strings.ReplaceAll(summary(f), home, "~"))
	}
	want := []string{
		".mcp.json:6 mcpServers.db.env.DATABASE_URL url-credentials pw…(19 chars)",
		"~/.claude.json:7 mcpServers.sentry.headers.Authorization secret-variable 9O2l…(32 chars)",
		`~/.claude.json:18 projects["/home/dev/app"].mcpServers.openai.env.OPENAI_API_KEY openai-api-key sk-p…(164 chars)`,
		"~/.codeium/windsurf/mcp_config.json:3 mcpServers.remote.serverUrl github-fine-grained-pat gith…(93 chars)",
		"~/.codex/config.toml:8 mcp_servers.ssh.env.SSH_PRIVATE_KEY private-key ----…(191 chars)",
		"~/.codex/config.toml:16 mcp_servers.db.env.DB_PASSWORD secret-variable cd…(13 chars)",
		"~/.config/Claude/claude_desktop_config.json:7 mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN github-pat ghp_…(40 chars)",
		"~/.config/Claude/claude_desktop_config.json:13 mcpServers.postgres.args[2] url-credentials pw…(19 chars)",
		"~/.config/Code/User/mcp.json:10 servers.slack.env.SLACK_BOT_TOKEN slack-bot-token xoxb…(56 chars)",
		"~/.config/Code/User/settings.json:9 mcp.servers.aws.env.AWS_ACCESS_KEY_ID aws-access-token AKIA…(20 chars)",
		"~/.config/Code/User/settings.json:10 mcp.servers.aws.env.AWS_SECRET_ACCESS_KEY generic-api-key Oqhm…(40 chars)",
		"~/.cursor/mcp.json:5 mcpServers.stripe.args[4] stripe-access-token sk_l…(32 chars)",
		"~/.cursor/mcp.json:7 mcpServers.anthropic.env.ANTHROPIC_API_KEY anthropic-api-key sk-a…(108 chars)",
		"~/.gemini/settings.json:4 mcpServers.api.headers.X-Session jwt eyJh…(144 chars)",
		"sub/.env.local:1 sub/.env.local dotenv-readable ",
		"sub/.env.local:2 STRIPE_SECRET_KEY stripe-access-token sk_l…(32 chars)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// 8 client configs, 2 project configs, 3 .env files (not node_modules',
	// not .envrc).
	if r.Files != 13 {
		t.Errorf("scanned %d files, want 13", r.Files)
	}
	noLeak(t, "findings", findingsJSON(t, r.Findings))
}

// noLeak fails if out holds any of the secrets, raw or JSON-escaped.
func noLeak(t testing.TB, what string, out []byte) {
	t.Helper()
	for name, v := range auditest.Secrets() {
		if bytes.Contains(out, []byte(v)) || bytes.Contains(out, []byte(auditest.JSONString(v))) {
			t.Errorf("%s holds the secret %s", what, name)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func findingsJSON(t testing.TB, fs []Finding) []byte {
	var b bytes.Buffer
	if err := WriteJSON(&b, fs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The locations of the table resolve as each OS lays them out, with that
// OS's separator wherever the table is worked out.
func TestLocationFiles(t *testing.T) {
	tests := []struct {
		goos string
		env  map[string]string
		want map[string]string // client: file
	}{
		{
			goos: "windows",
			env:  map[string]string{"USERPROFILE": `C:\Users\u`, "APPDATA": `C:\Users\u\AppData\Roaming`, "HOME": "/ignored"},
			want: map[string]string{
				"Claude Desktop": `C:\Users\u\AppData\Roaming\Claude\claude_desktop_config.json`,
				"Claude Code (user and per-project servers)": `C:\Users\u\.claude.json`,
				"Cursor":                  `C:\Users\u\.cursor\mcp.json`,
				"VS Code":                 `C:\Users\u\AppData\Roaming\Code\User\mcp.json`,
				"VS Code (user settings)": `C:\Users\u\AppData\Roaming\Code\User\settings.json`,
				"Windsurf":                `C:\Users\u\.codeium\windsurf\mcp_config.json`,
				"Gemini CLI":              `C:\Users\u\.gemini\settings.json`,
				"Codex":                   `C:\Users\u\.codex\config.toml`,
			},
		},
		{
			goos: "windows", // no APPDATA: its default under the profile; CODEX_HOME wins
			env:  map[string]string{"USERPROFILE": `D:\home\u\`, "CODEX_HOME": `E:\codex`},
			want: map[string]string{
				"Claude Desktop": `D:\home\u\AppData\Roaming\Claude\claude_desktop_config.json`,
				"Claude Code (user and per-project servers)": `D:\home\u\.claude.json`,
				"Codex": `E:\codex\config.toml`,
			},
		},
		{
			goos: "darwin",
			env:  map[string]string{"HOME": "/Users/u"},
			want: map[string]string{
				"Claude Desktop": "/Users/u/Library/Application Support/Claude/claude_desktop_config.json",
				"Claude Code (user and per-project servers)": "/Users/u/.claude.json",
				"Cursor":                  "/Users/u/.cursor/mcp.json",
				"VS Code":                 "/Users/u/Library/Application Support/Code/User/mcp.json",
				"VS Code (user settings)": "/Users/u/Library/Application Support/Code/User/settings.json",
				"Windsurf":                "/Users/u/.codeium/windsurf/mcp_config.json",
				"Gemini CLI":              "/Users/u/.gemini/settings.json",
				"Codex":                   "/Users/u/.codex/config.toml",
			},
		},
		{
			goos: "linux",
			env:  map[string]string{"HOME": "/home/u/", "XDG_CONFIG_HOME": "/xdg"},
			want: map[string]string{
				"Claude Desktop": "/xdg/Claude/claude_desktop_config.json",
				"Claude Code (user and per-project servers)": "/home/u/.claude.json",
				"VS Code": "/xdg/Code/User/mcp.json",
				"Codex":   "/home/u/.codex/config.toml",
			},
		},
		{
			goos: "linux", // no HOME: nothing under it
			env:  map[string]string{},
			want: map[string]string{"Claude Desktop": "", "Claude Code (user and per-project servers)": "", "Codex": ""},
		},
	}
	for _, tc := range tests {
		got := map[string]string{}
		for _, l := range Locations() {
			if l.Base != Project && (l.GOOS == "" || l.GOOS == tc.goos) {
				got[l.Client] = l.File(func(k string) string { return tc.env[k] }, tc.goos)
			}
		}
		for client, want := range tc.want {
			if got[client] != want {
				t.Errorf("%s %v: %s = %q, want %q", tc.goos, tc.env, client, got[client], want)
			}
		}
	}
}

// Paths given are scanned whatever their name, formats told apart by it; a
// malformed config is reported with its position and the others scanned.
func TestScanPaths(t *testing.T) {
	dir := t.TempDir()
	s := auditest.Secrets()
	files := map[string]string{
		"broken.json":  "{\"mcpServers\": {\"a\": {\"env\": {\"K\": " + s["STRIPE_KEY"] + "}}}}",
		"ok.json":      `{"mcpServers": {"a": {"command": "x", "env": {"K": "` + s["GITHUB_PAT"] + `"}}}}`,
		"codex.toml":   "[mcp_servers.a]\ncommand = 'x'\nenv = { K = '" + s["SLACK_TOKEN"] + "' }\n",
		"broken.toml":  "[mcp_servers.a]\nenv = { K = " + s["STRIPE_KEY"] + " }\n",
		"d/.env":       "K=" + s["GITHUB_PAT"] + "\n",
		"bad/.env":     "K=\"" + s["GITHUB_PAT"] + "\n",
		"d/deeper/a/b": "not scanned",
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
	r := newScanner(t, t.TempDir(), dir).Scan(context.Background(), []string{"broken.json", "ok.json", "codex.toml", "broken.toml", "d", "bad", "missing.json"})
	var got []string
	for _, f := range r.Findings {
		got = append(got, summary(f))
	}
	want := []string{
		"codex.toml:3 mcp_servers.a.env.K slack-bot-token xoxb…(56 chars)",
		"d/.env:1 d/.env dotenv-readable ",
		"d/.env:1 K github-pat ghp_…(40 chars)",
		"ok.json:1 mcpServers.a.env.K github-pat ghp_…(40 chars)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var errs []string
	for _, err := range r.Errors {
		errs = append(errs, strings.ReplaceAll(err.Error(), dir, "DIR"))
	}
	wantErrs := []string{
		"stat DIR/missing.json: no such file or directory",
		"broken.json: line 1, column 36: invalid literal (a string without quotes?)",
		"broken.toml: line 2, column 13: not valid TOML",
		"bad/.env: line 1: malformed: unterminated quoted value",
	}
	if strings.Join(errs, "\n") != strings.Join(wantErrs, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(wantErrs, "\n"))
	}
	noLeak(t, "errors", []byte(strings.Join(errs, "\n")))
	noLeak(t, "findings", findingsJSON(t, r.Findings))
}

// git decides what a .env's exposure is: tracked, or covered by no
// .gitignore, are both reported; ignored and untracked (and private) is
// clean.
func TestScanGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed: ", err)
	}
	secret := auditest.Secrets()["GITHUB_PAT"]
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	tests := []struct {
		name  string
		setup func(dir string)
		want  []string // rules
	}{
		{"tracked", func(dir string) {
			git(dir, "add", ".env")
			git(dir, "commit", "-q", "-m", "oops")
		}, []string{DotenvTracked, "github-pat"}},
		{"tracked and ignored later", func(dir string) {
			git(dir, "add", ".env")
			git(dir, "commit", "-q", "-m", "oops")
			os.WriteFile(filepath.Join(dir, ".gitignore"), []byte(".env\n"), 0o644)
		}, []string{DotenvTracked, "github-pat"}},
		{"not ignored", func(string) {}, []string{DotenvNotIgnored, "github-pat"}},
		{"ignored", func(dir string) {
			os.WriteFile(filepath.Join(dir, ".gitignore"), []byte(".env*\n"), 0o644)
		}, nil},
		{"ignored by info/exclude", func(dir string) {
			os.WriteFile(filepath.Join(dir, ".git/info/exclude"), []byte(".env\n"), 0o644)
		}, nil},
		{"ignored but readable", func(dir string) {
			os.WriteFile(filepath.Join(dir, ".gitignore"), []byte(".env\n"), 0o644)
			os.Chmod(filepath.Join(dir, ".env"), 0o644)
		}, []string{DotenvReadable, "github-pat"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			git(dir, "init", "-q")
			if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("GITHUB_TOKEN="+secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.setup(dir)
			r := newScanner(t, t.TempDir(), dir).Scan(context.Background(), nil)
			if len(r.Errors) != 0 {
				t.Fatal(r.Errors)
			}
			var got []string
			for _, f := range r.Findings {
				got = append(got, f.Rule)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("rules %q, want %q", got, tc.want)
			}
		})
	}
	// Outside any repository only the file's mode counts.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".env"), []byte("GITHUB_TOKEN="+secret+"\n"), 0o600)
	if r := newScanner(t, t.TempDir(), dir).Scan(context.Background(), nil); len(r.Findings) != 0 || len(r.Errors) != 0 {
		t.Errorf("outside a repository: %v %v", r.Findings, r.Errors)
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	WriteText(&b, []Finding{
		{File: "c.json", Line: 3, Location: "mcpServers.a.env.K", Rule: "github-pat", Severity: rules.High, Masked: "ghp_…(40 chars)"},
		{File: ".env", Line: 1, Location: ".env", Rule: DotenvTracked, Severity: rules.High, Message: "tracked by git"},
		{File: ".env", Line: 2, Location: ".env:2", Rule: "stripe-access-token", Severity: rules.High, Masked: "sk_l…(32 chars)"},
	})
	want := `c.json:3: mcpServers.a.env.K: github-pat (high): ghp_…(40 chars)
.env:1: dotenv-tracked (high): tracked by git
.env:2: stripe-access-token (high): sk_l…(32 chars)
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// The SARIF log decodes strictly into a maintained SARIF library's types,
// validates against the SARIF 2.1.0 schema, and carries what GitHub code
// scanning requires: the version, the tool's rules with ids, and results
// with a rule id, a level, a message and a location with a region.
func TestWriteSARIF(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, "testdata/home.txtar")
	os.Chmod(filepath.Join(dir, "project/sub/.env.local"), 0o644)
	r := newScanner(t, filepath.Join(dir, "home"), filepath.Join(dir, "project")).Scan(context.Background(), nil)
	var b bytes.Buffer
	if err := WriteSARIF(&b, r.Findings, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	noLeak(t, "SARIF", b.Bytes())

	var log sarif.Report
	d := json.NewDecoder(bytes.NewReader(b.Bytes()))
	d.DisallowUnknownFields()
	if err := d.Decode(&log); err != nil {
		t.Fatalf("strict decode: %v\n%s", err, b.Bytes())
	}
	// The OASIS schema, as go-sarif v3.3.1 embeds it.
	res, err := gojsonschema.Validate(gojsonschema.NewReferenceLoader("file://"+filepath.ToSlash(must(filepath.Abs("testdata/sarif-schema-2.1.0.json")))), gojsonschema.NewBytesLoader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors() {
		t.Errorf("schema: %s", e)
	}
	if log.Version != "2.1.0" || log.Schema == "" || len(log.Runs) != 1 {
		t.Fatalf("version %q, schema %q, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool == nil || run.Tool.Driver == nil || run.Tool.Driver.Name == nil || *run.Tool.Driver.Name != "mcp-secrets" {
		t.Fatal("no tool driver name")
	}
	ids := map[string]bool{}
	for i, rule := range run.Tool.Driver.Rules {
		if rule.ID == nil || *rule.ID == "" || rule.ShortDescription == nil || rule.ShortDescription.Text == nil || *rule.ShortDescription.Text == "" {
			t.Errorf("rule %d has no id or description", i)
		}
		ids[*rule.ID] = true
	}
	if len(run.Results) != len(r.Findings) {
		t.Fatalf("%d results for %d findings", len(run.Results), len(r.Findings))
	}
	for i, res := range run.Results {
		f := r.Findings[i]
		switch {
		case res.RuleID == nil || !ids[*res.RuleID] || *res.RuleID != f.Rule:
			t.Errorf("result %d: rule id %v not among the rules", i, res.RuleID)
		case *run.Tool.Driver.Rules[res.RuleIndex].ID != f.Rule:
			t.Errorf("result %d: rule index %d is %s", i, res.RuleIndex, *run.Tool.Driver.Rules[res.RuleIndex].ID)
		case res.Level != "error" && res.Level != "warning":
			t.Errorf("result %d: level %q", i, res.Level)
		case res.Message == nil || res.Message.Text == nil || *res.Message.Text == "":
			t.Errorf("result %d: no message", i)
		case len(res.Locations) != 1 || res.Locations[0].PhysicalLocation == nil:
			t.Errorf("result %d: no physical location", i)
		default:
			pl := res.Locations[0].PhysicalLocation
			if pl.ArtifactLocation == nil || pl.ArtifactLocation.URI == nil || *pl.ArtifactLocation.URI == "" {
				t.Errorf("result %d: no artifact URI", i)
			}
			if pl.Region == nil || pl.Region.StartLine == nil || *pl.Region.StartLine != f.Line {
				t.Errorf("result %d: region %+v, want line %d", i, pl.Region, f.Line)
			}
		}
	}
	// Relative paths stay relative (to the checkout), absolute ones are file: URLs.
	uris := map[string]bool{}
	for _, res := range run.Results {
		uris[*res.Locations[0].PhysicalLocation.ArtifactLocation.URI] = true
	}
	if !uris[".mcp.json"] || !uris["sub/.env.local"] || !uris["file://"+filepath.ToSlash(dir)+"/home/.cursor/mcp.json"] {
		t.Errorf("URIs: %v", uris)
	}
}
