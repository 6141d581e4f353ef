package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mcp-secrets/mcp-secrets/audit"
	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// The audit commands' scripts. They live apart from testdata/script because
// they need two commands of their own: their fixtures' secrets are made at
// test time (auditest), so none is committed.
func TestAuditScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/audit",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			// wrap writes its own path into configs: the copy of the test
			// binary testscript runs as mcp-secrets.
			bin, err := exec.LookPath("mcp-secrets")
			e.Setenv("MCP_SECRETS_BIN", bin)
			return err
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"fakesecrets": cmdFakeSecrets,
			"noleak":      cmdNoLeak,
		},
	})
}

// fakesecrets FILE... replaces ${NAME} in the files with auditest's secret
// NAME (GITHUB_PAT, OPENAI_KEY, ...).
func cmdFakeSecrets(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: fakesecrets FILE...")
	}
	for _, name := range args {
		path := ts.MkAbs(name)
		fi, err := os.Stat(path)
		ts.Check(err)
		ts.Check(os.WriteFile(path, []byte(auditest.Expand(ts.ReadFile(name))), fi.Mode().Perm()))
	}
}

// noleak [-except NAME] [FILE...] checks that the last command's stdout and
// stderr, and the files, hold none of auditest's secrets (but NAME), raw
// or JSON-escaped.
func cmdNoLeak(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: noleak [-except NAME] [FILE...]")
	}
	except := ""
	if len(args) >= 2 && args[0] == "-except" {
		except, args = args[1], args[2:]
	}
	for _, name := range append([]string{"stdout", "stderr"}, args...) {
		text := ts.ReadFile(name)
		for secret, v := range auditest.Secrets() {
			if secret != except && (strings.Contains(text, v) || strings.Contains(text, auditest.JSONString(v))) {
				ts.Fatalf("%s holds the secret %s", name, secret)
			}
		}
	}
}

// The locations in scan's help are the table scan reads.
func TestScanHelpLocations(t *testing.T) {
	if scanLocations != audit.LocationTable() {
		t.Errorf("scanLocations is stale; audit.LocationTable() is:\n%s", audit.LocationTable())
	}
	if !strings.Contains((&app{}).scanCmd().Long, "(6 levels deep") || audit.MaxDepth != 6 {
		t.Errorf("the help's depth is not audit.MaxDepth (%d)", audit.MaxDepth)
	}
}

// The pre-commit hook runs scan on the files that look like MCP configs or
// .env files.
func TestPreCommitHook(t *testing.T) {
	b, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var files, entry string
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "  files: "); ok {
			files = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "  entry: "); ok {
			entry = strings.TrimSpace(v)
		}
	}
	if entry != "mcp-secrets scan" {
		t.Errorf("entry %q", entry)
	}
	re, err := regexp.Compile(files)
	if err != nil {
		t.Fatalf("files: %v", err)
	}
	for name, want := range map[string]bool{
		".mcp.json": true, ".cursor/mcp.json": true, ".vscode/mcp.json": true, "claude_desktop_config.json": true,
		".gemini/settings.json": true, ".codex/config.toml": true, ".env": true, "app/.env.local": true, "prod.env": true,
		"README.md": false, "main.go": false, ".envrc": false, "package.json": false, "x.env/y": false,
	} {
		if re.MatchString(name) != want {
			t.Errorf("%s: matched %v, want %v", name, !want, want)
		}
	}
}

// Every MCP server start pays for what the binary links and initializes.
// The audit commands link no rule engine (gitleaks' rules are data, parsed
// when scan runs) nor the SARIF libraries the tests use, and the audit
// packages do nothing at start: no init of theirs shows in the runtime's
// init trace.
func TestLaunchPathStaysLean(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/mcp-secrets/mcp-secrets/cmd/mcp-secrets").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Every start of every MCP server would pay for their package inits.
	for _, banned := range []string{"github.com/zricethezav/gitleaks", "github.com/owenrumney/go-sarif", "github.com/xeipuuv/gojsonschema",
		"github.com/prometheus/client_golang", "google.golang.org/protobuf", "k8s.io/"} {
		if strings.Contains(string(out), banned) {
			t.Errorf("mcp-secrets links %s", banned)
		}
	}
	cmd := exec.Command(testenv.CLI(t), "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	trace, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(trace), "init github.com/spf13/cobra") {
		t.Fatalf("no init trace:\n%s", trace)
	}
	for line := range strings.Lines(string(trace)) {
		if strings.HasPrefix(line, "init github.com/mcp-secrets/mcp-secrets/audit") || strings.HasPrefix(line, "init github.com/mcp-secrets/mcp-secrets/sidecar") || strings.HasPrefix(line, "init github.com/mcp-secrets/mcp-secrets/webhook") {
			t.Errorf("an audit, sidecar or webhook package initializes at every start: %s", line)
		}
	}
}
