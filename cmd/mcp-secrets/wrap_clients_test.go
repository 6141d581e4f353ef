package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// wrap of each client's format with a remote entry that holds a token: the
// client still reads the rewritten config (its schema, its stdio form),
// scan finds nothing in it, and the remote server's tools answer through
// the rewritten entry (mcp-secrets connect, the token from the store).
func TestWrapRemoteEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a remote MCP server")
	}
	s := auditest.Secrets()
	token := s["GITHUB_PAT"]
	srv := testenv.Remote(t, testenv.RemoteOptions{Token: token, Stateless: true})
	cli := testenv.CLI(t)
	q := func(v string) string { return fmt.Sprintf("%q", v) }
	stdio := `"local": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-slack"], "env": {"SLACK_BOT_TOKEN": ` + q(s["SLACK_TOKEN"]) + `}}`
	auth := `{"Authorization": "Bearer ` + token + `"}`
	tests := []struct {
		client, file, config string
	}{
		{"Claude Code", ".mcp.json", `{"mcpServers": {"remote": {"type": "http", "url": ` + q(srv.URL) + `, "headers": ` + auth + `}, ` + stdio + `}}`},
		{"Claude Code", ".claude.json", "{\n  \"numStartups\": 3,\n  \"mcpServers\": {\n    \"remote\": {\n      \"type\": \"http\",\n      \"url\": " + q(srv.URL) + ",\n      \"headers\": {\n        \"Authorization\": \"Bearer " + token + "\"\n      }\n    },\n    " + stdio + "\n  }\n}\n"},
		{"Cursor", "mcp.json", `{"mcpServers": {"remote": {"url": ` + q(srv.URL) + `, "headers": ` + auth + `}, ` + stdio + `}}`},
		{"VS Code", "mcp.json", "{\n  // workspace servers\n  \"servers\": {\n    \"remote\": {\"type\": \"http\", \"url\": " + q(srv.URL) + ", \"headers\": " + auth + "}, // pasted\n    " + stdio + ",\n  },\n}\n"},
		{"Windsurf", "mcp_config.json", `{"mcpServers": {"remote": {"serverUrl": ` + q(srv.URL) + `, "headers": ` + auth + `, "disabled": false}, ` + stdio + `}}`},
		{"Gemini CLI", "settings.json", `{"theme": "Default", "mcpServers": {"remote": {"httpUrl": ` + q(srv.URL) + `, "headers": ` + auth + `, "trust": false}, ` + stdio + `}}`},
		{"Codex", "config.toml", "model = \"o3\"\n\n[mcp_servers.remote]\nurl = " + q(srv.URL) + "\nhttp_headers = { Authorization = \"Bearer " + token + "\" }\nstartup_timeout_sec = 20\n\n[mcp_servers.local]\ncommand = \"npx\"\nenv = { SLACK_BOT_TOKEN = " + q(s["SLACK_TOKEN"]) + " }\n"},
	}
	for _, tc := range tests {
		t.Run(tc.client+" "+tc.file, func(t *testing.T) {
			var c auditest.Client
			for _, cl := range auditest.Clients() {
				if cl.Name == tc.client {
					c = cl
				}
			}
			dir := t.TempDir()
			config := filepath.Join(dir, tc.file)
			if err := os.WriteFile(config, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			// The controls: the client reads the entry as remote, and scan
			// finds its token.
			before, err := c.Parse([]byte(tc.config))
			if err != nil || before["remote"].URL != srv.URL {
				t.Fatalf("%s reads the original: %v, %+v", tc.client, err, before["remote"])
			}
			if _, _, code := runCLI(t, cli, nil, "scan", config); code != 1 {
				t.Fatalf("scan of the original: exit %d, want 1", code)
			}

			secrets := filepath.Join(dir, "secrets.env")
			out, errOut, code := runCLI(t, cli, nil, "wrap", "--to", "dotenv:"+secrets, "--yes", config)
			if code != 0 {
				t.Fatalf("wrap: exit %d\n%s%s", code, out, errOut)
			}
			leakCheck(t, "wrap's output", out+errOut)
			data := readFile(t, config)
			leakCheck(t, "the rewritten config", data)
			after, err := c.Parse([]byte(data))
			if err != nil {
				t.Fatalf("%s does not read the rewritten config: %v\n%s", tc.client, err, data)
			}
			e := after["remote"]
			if e.Command != cli || len(e.Args) == 0 || e.Args[0] != "connect" || e.URL != "" {
				t.Fatalf("the remote entry became %+v", e)
			}
			if out, errOut, code := runCLI(t, cli, nil, "scan", config); code != 0 {
				t.Errorf("scan after wrap: exit %d\n%s%s", code, out, errOut)
			}

			// The server answers through the rewritten entry, as the client
			// would start it.
			cmd := exec.Command(e.Command, e.Args...)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"HOME=" + cmd.Dir, "PATH=" + os.Getenv("PATH")}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "wrap-test", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
			if err != nil {
				t.Fatalf("connecting through the rewritten entry: %v\n%s", err, stderr.String())
			}
			defer cs.Close()
			if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "hi"}); err != nil || got != "Echo: hi" {
				t.Errorf("echo through the rewritten entry = %q, %v\n%s", got, err, stderr.String())
			}
			leakCheck(t, "connect's stderr", stderr.String())
		})
	}
}
