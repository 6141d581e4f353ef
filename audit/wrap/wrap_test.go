package wrap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/audit"
	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
)

func plan(t *testing.T, name, data string, target Target, existing map[string]string) *Plan {
	t.Helper()
	d, err := rules.New()
	if err != nil {
		t.Fatal(err)
	}
	f, err := mcpconfig.Parse(name, []byte(auditest.Expand(data)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(f, audit.Hits(d, f), target, "/opt/bin/mcp-secrets", existing)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// noLeak fails if s holds any of the test secrets.
func noLeak(t *testing.T, what, s string) {
	t.Helper()
	for name, v := range auditest.Secrets() {
		if strings.Contains(s, v) || strings.Contains(s, auditest.JSONString(v)) {
			t.Errorf("%s holds the secret %s", what, name)
		}
	}
}

const claudeConfig = `{
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {
        "GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_PAT}",
        "GITHUB_TOOLSETS": "repos,issues"
      }
    },
    "postgres": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-postgres", "postgresql://app:${PG_PASSWORD}@db:5432/app"]
    },
    "sentry": {
      "url": "https://mcp.example.com/mcp",
      "headers": {"Authorization": "Bearer ${GENERIC_SECRET}"}
    },
    "slack": {
      "command": "/usr/local/bin/mcp-secrets",
      "args": ["run", "--", "npx", "-y", "@modelcontextprotocol/server-slack"],
      "env": {"SLACK_BOT_TOKEN": "${SLACK_TOKEN}"}
    },
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/safe/workspace"]
    }
  }
}
`

func TestPlan(t *testing.T) {
	p := plan(t, "claude_desktop_config.json", claudeConfig, Target{"aws", "mcp"}, nil)
	got := string(p.Rewritten())
	want := auditest.Expand(`{
  "mcpServers": {
    "github": {
      "command": "/opt/bin/mcp-secrets",
      "args": ["run", "--", "npx", "-y", "@modelcontextprotocol/server-github"],
      "env": {
        "GITHUB_PERSONAL_ACCESS_TOKEN": "$<aws:mcp/github#GITHUB_PERSONAL_ACCESS_TOKEN>",
        "GITHUB_TOOLSETS": "repos,issues"
      }
    },
    "postgres": {
      "command": "/opt/bin/mcp-secrets",
      "args": ["run", "--allow-secret-args", "--", "npx", "-y", "@modelcontextprotocol/server-postgres", "$<aws:mcp/postgres#ARG_2>"]
    },
    "sentry": {
      "command": "/opt/bin/mcp-secrets",
      "args": ["connect", "--header", "Authorization: Bearer $<aws:mcp/sentry#TOKEN>", "https://mcp.example.com/mcp"]
    },
    "slack": {
      "command": "/usr/local/bin/mcp-secrets",
      "args": ["run", "--", "npx", "-y", "@modelcontextprotocol/server-slack"],
      "env": {"SLACK_BOT_TOKEN": "${SLACK_TOKEN}"}
    },
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/safe/workspace"]
    }
  }
}
`)
	if got != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	if len(p.Servers) != 3 || p.Servers[0].Secret != "mcp/github" || p.Servers[1].Secret != "mcp/postgres" || !p.Servers[1].SecretArgs || p.Servers[0].SecretArgs || p.Servers[2].SecretArgs {
		t.Errorf("servers: %+v", p.Servers)
	}
	s := auditest.Secrets()
	if v := p.Servers[1].Values["ARG_2"]; v != "postgresql://app:"+s["PG_PASSWORD"]+"@db:5432/app" {
		t.Errorf("postgres stores the whole argument, got %d bytes", len(v))
	}
	if v := p.Servers[2].Values["TOKEN"]; v != s["GENERIC_SECRET"] {
		t.Errorf("sentry stores the bearer token alone, got %d bytes", len(v))
	}
	wantNotes := []string{
		"mcpServers.slack already runs through mcp-secrets: left as it is, with its plaintext secrets (mcpServers.slack.env.SLACK_BOT_TOKEN)",
	}
	if strings.Join(p.Notes, "\n") != strings.Join(wantNotes, "\n") {
		t.Errorf("notes:\n%s", strings.Join(p.Notes, "\n"))
	}

	diff := p.Diff()
	wantDiff := `--- claude_desktop_config.json
+++ claude_desktop_config.json
@@ -2,18 +2,18 @@
   "mcpServers": {
     "github": {
-      "command": "npx",
-      "args": ["-y", "@modelcontextprotocol/server-github"],
+      "command": "/opt/bin/mcp-secrets",
+      "args": ["run", "--", "npx", "-y", "@modelcontextprotocol/server-github"],
       "env": {
-        "GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_…(40 chars)",
+        "GITHUB_PERSONAL_ACCESS_TOKEN": "$<aws:mcp/github#GITHUB_PERSONAL_ACCESS_TOKEN>",
         "GITHUB_TOOLSETS": "repos,issues"
       }
     },
     "postgres": {
-      "command": "npx",
-      "args": ["-y", "@modelcontextprotocol/server-postgres", "postgresql://app:pw…(19 chars)@db:5432/app"]
+      "command": "/opt/bin/mcp-secrets",
+      "args": ["run", "--allow-secret-args", "--", "npx", "-y", "@modelcontextprotocol/server-postgres", "$<aws:mcp/postgres#ARG_2>"]
     },
     "sentry": {
-      "url": "https://mcp.example.com/mcp",
-      "headers": {"Authorization": "Bearer 9O2l…(32 chars)"}
+      "command": "/opt/bin/mcp-secrets",
+      "args": ["connect", "--header", "Authorization: Bearer $<aws:mcp/sentry#TOKEN>", "https://mcp.example.com/mcp"]
     },
     "slack": {
`
	if diff != wantDiff {
		t.Errorf("diff:\n%s\nwant:\n%s", diff, wantDiff)
	}
	noLeak(t, "diff", diff)

	// Once wrapped, nothing is left to wrap.
	again := plan(t, "claude_desktop_config.json", got, Target{"aws", "mcp"}, nil)
	if again.Count() != 0 || string(again.Rewritten()) != got {
		t.Errorf("second plan moves %d values", again.Count())
	}
}

// The diff masks secrets that stay, in context lines, and a secret that
// spans lines is never cut by a hunk's edge.
func TestDiffMasksContext(t *testing.T) {
	p := plan(t, "config.toml", `[mcp_servers.db]
command = "npx"
env = { DB_PASSWORD = "${DB_PASSWORD}" }

[mcp_servers]
remote = { url = "https://x.example/mcp?token=${GITHUB_PAT}" }
[mcp_servers.ssh.env]
KEY = """${PEM}"""
[mcp_servers.ssh]
command = "ssh-mcp"
`, Target{"vault", "secret/mcp"}, nil)
	diff := p.Diff()
	noLeak(t, "diff", diff)
	for _, want := range []string{
		`-env = { DB_PASSWORD = "cd…(13 chars)" }`,
		`+env = { DB_PASSWORD = "$<vault:secret/mcp/db#DB_PASSWORD>" }`,
		` remote = { url = "https://x.example/mcp?token=ghp_…(40 chars)" }`,
		`-KEY = "----…(191 chars)"`,
		`+KEY = "$<vault:secret/mcp/ssh#KEY>"`,
		`+args = ["run", "--", "ssh-mcp"]`,
	} {
		if !strings.Contains(diff, want+"\n") {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		to, server, name string
		ref              string
	}{
		{"aws:mcp", "brave-search", "mcp/brave-search", "$<aws:mcp/brave-search#K>"},
		{"aws:/team/mcp/", "my server", "team/mcp/my-server", "$<aws:team/mcp/my-server#K>"},
		{"vault:secret/mcp", "github.com", "secret/mcp/github.com", "$<vault:secret/mcp/github.com#K>"},
		{"vault:kv1", "x", "kv1/x", "$<vault:kv1/x#K>"},
		{"azure:myvault/mcp", "brave_search.v2", "myvault/mcp-brave-search-v2", "$<azure:myvault/mcp-brave-search-v2#K>"},
		{"azure:myvault", "-odd-", "myvault/odd", "$<azure:myvault/odd#K>"},
		{"keychain:mcp", "github.com/x", "mcp/github.com-x", "$<keychain:mcp/github.com-x#K>"},
		{"keychain:https://mcp.example/", "a b", "https://mcp.example/a-b", "$<keychain:https://mcp.example/a-b#K>"},
		{"dotenv:/etc/mcp.env", "x", "", "$<dotenv:K>"},
	}
	for _, tc := range tests {
		tg, err := ParseTarget(tc.to, "/w")
		if err != nil {
			t.Errorf("%s: %v", tc.to, err)
			continue
		}
		name := tg.secretName(tc.server)
		if name != tc.name || tg.ref(name, "K").String() != tc.ref {
			t.Errorf("%s, %s: %q %s, want %q %s", tc.to, tc.server, name, tg.ref(name, "K"), tc.name, tc.ref)
		}
	}
	if tg, _ := ParseTarget("dotenv:secrets.env", "/w"); tg.Path != "/w/secrets.env" {
		t.Errorf("relative dotenv: %s", tg.Path)
	}
	if tg, _ := ParseTarget("dotenv:/etc/mcp/secrets.env", "/w"); tg.Path != "/etc/mcp/secrets.env" {
		t.Errorf("absolute dotenv: %s", tg.Path)
	}
	for _, bad := range []string{"", "aws", "aws:", "gcp:x", "aws:a b", "azure:v/a/b", "vault:x#y", "dotenv:", "keychain:", "keychain:a?b"} {
		if _, err := ParseTarget(bad, "/w"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// In a dotenv target a variable keeps its name unless another value holds
// it already (in the file, or from another server); then the server's
// name prefixes it.
func TestDotenvNames(t *testing.T) {
	s := auditest.Secrets()
	p := plan(t, "c.json", `{"mcpServers": {
  "a": {"command": "x", "env": {"API_KEY": "${GITHUB_PAT}", "SAME": "${STRIPE_KEY}"}},
  "b-2": {"command": "x", "env": {"API_KEY": "${OPENAI_KEY}", "SAME": "${STRIPE_KEY}", "OLD": "${SLACK_TOKEN}"}, "args": ["--token", "${GENERIC_SECRET}"]},
  "work": {"command": "x", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_FINE}"}},
  "github": {"command": "x", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITLAB_PAT}"}},
  "github-enterprise": {"command": "x", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${NPM_TOKEN}"}},
  "my-linear": {"command": "x", "env": {"LINEAR_API_KEY": "${LINEAR_KEY}"}, "args": ["${HF_TOKEN}"]},
  "linear": {"command": "x", "env": {"LINEAR_API_KEY": "${BRAVE_KEY}"}},
  "sentry": {"type": "http", "url": "https://mcp.example.com/mcp?api_key=${URL_TOKEN}", "headers": {"X-Api-Key": "${GOOGLE_KEY}", "Authorization": "Basic ${BASIC_AUTH}"}},
  "db": {"url": "https://app:${PG_PASSWORD}@db.example.com/mcp/${GITHUB_PAT}/x"}
}}`, Target{"dotenv", "/w/.env"}, map[string]string{"OLD": "something else"})
	var got []string
	for _, srv := range p.Servers {
		for _, m := range srv.Moved {
			got = append(got, m.Location+" "+m.Ref.String())
		}
	}
	want := []string{
		"mcpServers.a.env.API_KEY $<dotenv:API_KEY>",
		"mcpServers.a.env.SAME $<dotenv:SAME>",
		"mcpServers.b-2.env.API_KEY $<dotenv:B_2_API_KEY>",
		"mcpServers.b-2.env.SAME $<dotenv:SAME>",
		"mcpServers.b-2.env.OLD $<dotenv:B_2_OLD>",
		"mcpServers.b-2.args[1] $<dotenv:B_2_TOKEN>",
		// Names a person would write: no word twice. (work's comes first,
		// and takes the name as it is.)
		"mcpServers.work.env.GITHUB_PERSONAL_ACCESS_TOKEN $<dotenv:GITHUB_PERSONAL_ACCESS_TOKEN>",
		"mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN $<dotenv:GITHUB_PERSONAL_ACCESS_TOKEN_2>",
		"mcpServers.github-enterprise.env.GITHUB_PERSONAL_ACCESS_TOKEN $<dotenv:GITHUB_ENTERPRISE_PERSONAL_ACCESS_TOKEN>",
		"mcpServers.my-linear.env.LINEAR_API_KEY $<dotenv:LINEAR_API_KEY>",
		"mcpServers.my-linear.args[0] $<dotenv:MY_LINEAR_ARG_0>",
		"mcpServers.linear.env.LINEAR_API_KEY $<dotenv:LINEAR_API_KEY_2>",
		"mcpServers.sentry.headers.X-Api-Key $<dotenv:SENTRY_API_KEY>",
		"mcpServers.sentry.headers.Authorization $<dotenv:SENTRY_BASIC_AUTH>",
		"mcpServers.sentry.url $<dotenv:SENTRY_API_KEY_2>",
		"mcpServers.db.url $<dotenv:DB_PASSWORD>",
		"mcpServers.db.url $<dotenv:DB_URL_TOKEN>",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.Servers[1].Values["B_2_API_KEY"] != s["OPENAI_KEY"] {
		t.Error("B_2_API_KEY does not hold b-2's value")
	}
	for _, want := range []string{
		`"args": ["run", "--allow-secret-args", "--env-file", "/w/.env", "--", "x", "--token", "$<dotenv:B_2_TOKEN>"]`,
		`"sentry": {"type": "stdio", "command": "/opt/bin/mcp-secrets", "args": ["connect", "--env-file", "/w/.env", "--header", "X-Api-Key: $<dotenv:SENTRY_API_KEY>", "--header", "Authorization: Basic $<dotenv:SENTRY_BASIC_AUTH>", "https://mcp.example.com/mcp?api_key=$<dotenv:SENTRY_API_KEY_2>"]}`,
		`"db": {"command": "/opt/bin/mcp-secrets", "args": ["connect", "--env-file", "/w/.env", "https://app:$<dotenv:DB_PASSWORD>@db.example.com/mcp/$<dotenv:DB_URL_TOKEN>/x"]}`,
	} {
		if !strings.Contains(string(p.Rewritten()), want) {
			t.Errorf("rewritten:\n%s\nlacks\n%s", p.Rewritten(), want)
		}
	}
}

// Store and Verify against a real dotenv file: what is stored resolves to
// the values it replaced, through the resolver the launcher uses.
func TestStoreVerifyDotenv(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "mcp.env")
	p := plan(t, "c.json", claudeConfig, Target{"dotenv", envFile}, nil)
	files, err := dotenv.NewFiles(envFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stored, err := p.Store(ctx, files, files)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dotenv:" + envFile + " (GITHUB_PERSONAL_ACCESS_TOKEN)",
		"dotenv:" + envFile + " (POSTGRES_ARG_2)",
		"dotenv:" + envFile + " (SENTRY_TOKEN)",
	}
	if strings.Join(stored, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored %q", stored)
	}
	r := &providers.Resolver{Providers: map[string]providers.Provider{"dotenv": files}, Fallback: providers.FallbackOff}
	checked, err := p.Verify(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(checked) != 3 || !strings.HasPrefix(checked[0], "github: $<dotenv:GITHUB_PERSONAL_ACCESS_TOKEN> ghp_…") || !strings.HasPrefix(checked[2], "sentry: $<dotenv:SENTRY_TOKEN> 9O2l…") {
		t.Errorf("checked %q", checked)
	}
	noLeak(t, "verify", strings.Join(checked, "\n"))

	// A value changed in the store since: Verify says so, without values.
	os.WriteFile(envFile, []byte("GITHUB_PERSONAL_ACCESS_TOKEN=other\nPOSTGRES_ARG_2=other\nSENTRY_TOKEN=other\n"), 0o600)
	_, err = p.Verify(ctx, r)
	if err == nil || !strings.Contains(err.Error(), "mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN: $<dotenv:GITHUB_PERSONAL_ACCESS_TOKEN> resolves to another value") {
		t.Errorf("verify after a change: %v", err)
	}
	noLeak(t, "verify error", err.Error())
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "link.json")
	os.WriteFile(real, []byte("old"), 0o640)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(real); string(b) != "new" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced")
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %o, want 640", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d entries: a temporary or backup file was left", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing.json"), []byte("x")); err == nil {
		t.Error("wrote a file that did not exist")
	}
}

// The new command is this binary's path as the OS gives it, Windows paths
// and spaces included, written as the file's syntax needs (backslashes
// escaped in JSON and TOML basic strings); a second wrap sees the server
// as wrapped, wherever it runs.
func TestPlanSelfPath(t *testing.T) {
	configs := map[string]string{
		"claude_desktop_config.json": `{"mcpServers": {"github": {"command": "npx", "env": {"GITHUB_TOKEN": "${GITHUB_PAT}"}}}}`,
		"config.toml":                "[mcp_servers.github]\ncommand = \"npx\"\nenv = { GITHUB_TOKEN = \"${GITHUB_PAT}\" }\n",
	}
	tests := []struct {
		self, envFile string
		literal       map[string]string // how the command is written, by config
	}{
		{
			self:    `C:\Program Files\mcp-secrets\mcp-secrets.exe`,
			envFile: `C:\Users\Jane Doe\.mcp-secrets.env`,
			literal: map[string]string{
				"claude_desktop_config.json": `"command": "C:\\Program Files\\mcp-secrets\\mcp-secrets.exe"`,
				"config.toml":                `command = "C:\\Program Files\\mcp-secrets\\mcp-secrets.exe"`,
			},
		},
		{
			self:    "/Users/Jane Doe/bin/mcp-secrets",
			envFile: "/Users/Jane Doe/.mcp-secrets.env",
			literal: map[string]string{
				"claude_desktop_config.json": `"command": "/Users/Jane Doe/bin/mcp-secrets"`,
				"config.toml":                `command = "/Users/Jane Doe/bin/mcp-secrets"`,
			},
		},
	}
	d, err := rules.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		for name, data := range configs {
			f, err := mcpconfig.Parse(name, []byte(auditest.Expand(data)))
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(f, audit.Hits(d, f), Target{"dotenv", tc.envFile}, tc.self, nil)
			if err != nil {
				t.Fatal(err)
			}
			out := p.Rewritten()
			if !strings.Contains(string(out), tc.literal[name]) {
				t.Errorf("%s, %s: the command is not written as %s:\n%s", name, tc.self, tc.literal[name], out)
			}
			again, err := mcpconfig.Parse(name, out)
			if err != nil {
				t.Fatalf("%s, %s: the rewritten file does not parse: %v\n%s", name, tc.self, err, out)
			}
			srv := again.Servers[0]
			var args []string
			for _, a := range srv.Args {
				args = append(args, a.Value)
			}
			if srv.Command.Value != tc.self || strings.Join(args, " ") != "run --env-file "+tc.envFile+" -- npx" {
				t.Errorf("%s: reads back as %q %q", name, srv.Command.Value, args)
			}
			// A server started so, with a plaintext secret still in it, is
			// left alone.
			wrappedConfig := `{"mcpServers": {"github": {` + tc.literal[name] + `, "args": ["run", "--", "npx"], "env": {"GITHUB_TOKEN": "${GITHUB_PAT}"}}}}`
			if strings.HasSuffix(name, ".toml") {
				wrappedConfig = "[mcp_servers.github]\n" + tc.literal[name] + "\nargs = [\"run\", \"--\", \"npx\"]\nenv = { GITHUB_TOKEN = \"${GITHUB_PAT}\" }\n"
			}
			second := plan(t, name, wrappedConfig, Target{"dotenv", tc.envFile}, nil)
			if second.Count() != 0 || len(second.Notes) != 1 || !strings.Contains(second.Notes[0], "already runs through mcp-secrets") {
				t.Errorf("%s, %s: a second wrap moves %d values (%q)", name, tc.self, second.Count(), second.Notes)
			}
		}
	}
}

// A remote entry connect cannot stand in for is left as it is, with a
// note: one that speaks HTTP+SSE, one with a key a stdio entry cannot
// carry. The control, a Streamable HTTP entry beside them, is moved.
func TestPlanRemoteLeft(t *testing.T) {
	p := plan(t, ".mcp.json", `{"mcpServers": {
  "old": {"type": "sse", "url": "https://x.example/sse", "headers": {"Authorization": "Bearer ${GITHUB_PAT}"}},
  "oauth": {"type": "http", "url": "https://y.example/mcp", "headers": {"X-Api-Key": "${STRIPE_KEY}"}, "oauth": {"clientId": "c"}},
  "new": {"type": "http", "url": "https://z.example/mcp", "headers": {"Authorization": "Bearer ${GENERIC_SECRET}"}}
}}`, Target{"aws", "mcp"}, nil)
	wantNotes := []string{
		"mcpServers.old speaks the HTTP+SSE transport, which mcp-secrets connect does not: its secrets (mcpServers.old.headers.Authorization) stay where they are; if the server speaks Streamable HTTP too, point the entry there and wrap again",
		"mcpServers.oauth has oauth, which a stdio entry cannot carry: its secrets (mcpServers.oauth.headers.X-Api-Key) stay where they are",
	}
	if strings.Join(p.Notes, "\n") != strings.Join(wantNotes, "\n") {
		t.Errorf("notes:\n%s", strings.Join(p.Notes, "\n"))
	}
	if len(p.Servers) != 1 || p.Servers[0].Name != "new" || p.Servers[0].Secret != "mcp/new" {
		t.Fatalf("servers: %+v", p.Servers)
	}
	got := string(p.Rewritten())
	if !strings.Contains(got, `"new": {"type": "stdio", "command": "/opt/bin/mcp-secrets", "args": ["connect", "--header", "Authorization: Bearer $<aws:mcp/new#TOKEN>", "https://z.example/mcp"]}`) ||
		!strings.Contains(got, `"old": {"type": "sse", "url": "https://x.example/sse"`) {
		t.Errorf("rewritten:\n%s", got)
	}
	noLeak(t, "diff", p.Diff())
}
