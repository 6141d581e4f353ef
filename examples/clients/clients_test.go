// Each example is read the way its client reads it: the config files by
// the client's schema of fields (auditest.Clients), the `claude mcp add`
// and `gemini mcp add` lines by the shell and then by a model of each
// CLI's option parser (commander's variadic options, yargs' arrays and
// --); and every entry is one mcp-secrets would run.
package clients_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/audit"
	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

func client(t *testing.T, name string) auditest.Client {
	t.Helper()
	for _, c := range auditest.Clients() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no client %s", name)
	return auditest.Client{}
}

// configs are the example files and the client that reads each.
var configs = map[string]string{
	"claude_desktop_config.json": "Claude Desktop",
	"claude-code/.mcp.json":      "Claude Code",
	"cursor/mcp.json":            "Cursor",
	"vscode/mcp.json":            "VS Code",
	"gemini/settings.json":       "Gemini CLI",
	"codex/config.toml":          "Codex",
}

func TestConfigs(t *testing.T) {
	for file, name := range configs {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := client(t, name).Parse(data)
			if err != nil {
				t.Fatalf("%s reads %s: %v", name, file, err)
			}
			if len(entries) == 0 {
				t.Fatal("no servers")
			}
			for n, e := range entries {
				if err := launcherEntry(e); err != nil {
					t.Errorf("%s: %v", n, err)
				}
			}
		})
	}
}

// The schemas refuse what the clients refuse: the controls of TestConfigs.
func TestConfigsRefused(t *testing.T) {
	for _, tc := range []struct{ client, data string }{
		{"Claude Desktop", `{"mcpServers": {"x": {"url": "https://x/mcp"}}}`},
		{"Claude Code", `{"mcpServers": {"x": {"type": "http", "command": "x"}}}`},
		{"Claude Code", `{"mcpServers": {"x": {"command": "x", "url": "https://x/mcp"}}}`},
		{"Cursor", `{"mcpServers": {"x": {"command": "x"}},}`},
		{"VS Code", `{"servers": {"x": {"command": "x", "trust": true}}}`},
		{"Gemini CLI", `{"mcpServers": {"x": {"type": "stdio", "command": "x"}}}`},
		{"Gemini CLI", `{"mcpServers": {"x": {"command": "x", "httpUrl": "https://x/mcp"}}}`},
		{"Windsurf", `{"mcpServers": {"x": {"url": "https://x/mcp"}}}`},
		{"Codex", "[mcp_servers.x]\ncommand = \"x\"\nurl = \"https://x/mcp\"\n"},
		{"Codex", "[mcp_servers.x]\ncommand = \"x\"\nheaders = { A = \"b\" }\n"},
	} {
		if _, err := client(t, tc.client).Parse([]byte(tc.data)); err == nil {
			t.Errorf("%s takes %s", tc.client, tc.data)
		}
	}
	if err := launcherEntry(auditest.Entry{Command: "mcp-secrets", Args: []string{"run", "--", "x"}}); err == nil {
		t.Error("a relative command passes")
	}
	if err := launcherEntry(auditest.Entry{Command: "/bin/mcp-secrets", Args: []string{"connect", "--header", "Authorization Bearer $<x>", "https://x"}}); err == nil {
		t.Error("a header without a colon passes")
	}
}

// launcherEntry checks an entry runs mcp-secrets as the README says: its
// absolute path; run with the server after --; connect with NAME: VALUE
// headers and an http(s) URL last; every reference well formed.
func launcherEntry(e auditest.Entry) error {
	if !filepath.IsAbs(e.Command) || filepath.Base(e.Command) != "mcp-secrets" {
		return fmt.Errorf("command %q: want the absolute path of mcp-secrets", e.Command)
	}
	values := slices.Clone(e.Args)
	for k, v := range e.Env {
		values = append(values, k+"="+v)
	}
	for _, v := range values {
		if _, err := providers.Parse(v); err != nil {
			return fmt.Errorf("%q: %v", v, err)
		}
	}
	if len(e.Args) == 0 {
		return fmt.Errorf("no arguments")
	}
	switch a := e.Args; a[0] {
	case "run", "exec":
		i := slices.Index(a, "--")
		if i < 0 || i == len(a)-1 {
			return fmt.Errorf("%v: no -- and server command", a)
		}
		if slices.ContainsFunc(a[i+1:], providers.HasRef) && !slices.Contains(a[:i], "--allow-secret-args") {
			return fmt.Errorf("%v: a reference in the server's arguments", a)
		}
	case "connect":
		if u := a[len(a)-1]; !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return fmt.Errorf("%v: the URL is not last", a)
		}
		for i, v := range a {
			if v == "--header" && (i+1 >= len(a) || !strings.Contains(a[i+1], ": ")) {
				return fmt.Errorf("%v: --header wants NAME: VALUE", a)
			}
		}
	default:
		return fmt.Errorf("%v: want run or connect", a)
	}
	return nil
}

// added runs script with a fake CLI by the name of cli that records its
// arguments, and returns each call's.
func added(t *testing.T, script, cli string) [][]string {
	t.Helper()
	bin, out := t.TempDir(), t.TempDir()
	fake := "#!/bin/sh\nn=$(ls \"$OUT\" | wc -l)\nprintf '%s\\0' \"$@\" > \"$OUT/$n\"\n"
	if err := os.WriteFile(filepath.Join(bin, cli), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	var calls [][]string
	for n := 0; ; n++ {
		b, err := os.ReadFile(filepath.Join(out, fmt.Sprint(n)))
		if err != nil {
			break
		}
		calls = append(calls, strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"))
	}
	if len(calls) == 0 {
		t.Fatalf("%s calls no %s", script, cli)
	}
	return calls
}

// option is how a CLI's parser takes an option's values.
type option int

const (
	one  option = iota // --scope user
	many               // variadic or array: -e A=1 B=2
	flag               // no value
)

// parsed is a `mcp add` call as the CLI's parser reads it.
type parsed struct {
	name    string
	command string
	args    []string
	env     []string
}

// parseAdd reads `mcp add` arguments as commander (Claude Code) or yargs
// (Gemini CLI) does: options anywhere before --, a variadic or array
// option takes the words after it up to the next option (greedy: yargs
// may also take just one), and every word after -- is positional.
func parseAdd(argv []string, opts map[string]option, greedy bool) (parsed, error) {
	if len(argv) < 2 || argv[0] != "mcp" || argv[1] != "add" {
		return parsed{}, fmt.Errorf("%q is no mcp add", argv)
	}
	var pos, env []string
	a := argv[2:]
	for i := 0; i < len(a); i++ {
		w := a[i]
		if w == "--" {
			pos = append(pos, a[i+1:]...)
			break
		}
		if !strings.HasPrefix(w, "-") || w == "-" {
			pos = append(pos, w)
			continue
		}
		kind, ok := opts[w]
		if !ok {
			return parsed{}, fmt.Errorf("unknown option %s", w)
		}
		var vals []string
		switch kind {
		case one:
			i++
			if i >= len(a) {
				return parsed{}, fmt.Errorf("%s wants a value", w)
			}
			vals = append(vals, a[i])
		case many:
			for i+1 < len(a) && !strings.HasPrefix(a[i+1], "-") && (greedy || len(vals) == 0) {
				i++
				vals = append(vals, a[i])
			}
		}
		if w == "-e" || w == "--env" {
			env = append(env, vals...)
		}
	}
	if len(pos) < 2 {
		return parsed{}, fmt.Errorf("%q: want a name and a command", argv)
	}
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return parsed{}, fmt.Errorf("-e %q: not KEY=VALUE", e)
		}
	}
	return parsed{name: pos[0], command: pos[1], args: pos[2:], env: env}, nil
}

var (
	claudeOpts = map[string]option{"-s": one, "--scope": one, "-t": one, "--transport": one, "-e": many, "--env": many, "-H": many, "--header": many}
	geminiOpts = map[string]option{"-s": one, "--scope": one, "-t": one, "--transport": one, "-e": many, "--env": many, "-H": many, "--header": many,
		"--timeout": one, "--trust": flag, "--description": one, "--include-tools": many, "--exclude-tools": many}
)

func TestAddCommands(t *testing.T) {
	for _, tc := range []struct {
		script, cli string
		opts        map[string]option
		config      string // the same servers, written by hand
	}{
		{"claude-code/add.sh", "claude", claudeOpts, "claude-code/.mcp.json"},
		{"gemini/add.sh", "gemini", geminiOpts, "gemini/settings.json"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			data, err := os.ReadFile(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			written, err := client(t, configs[tc.config]).Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, argv := range added(t, tc.script, tc.cli) {
				var got []parsed
				for _, greedy := range []bool{true, false} {
					p, err := parseAdd(argv, tc.opts, greedy)
					if err != nil {
						t.Fatalf("%s: %v", tc.cli, err)
					}
					got = append(got, p)
				}
				p := got[0]
				if !reflect.DeepEqual(got[0], got[1]) {
					t.Errorf("%s reads %q two ways: %+v, %+v", tc.cli, argv, got[0], got[1])
				}
				e := auditest.Entry{Command: p.command, Args: p.args, Env: map[string]string{}}
				for _, kv := range p.env {
					k, v, _ := strings.Cut(kv, "=")
					e.Env[k] = v
				}
				if err := launcherEntry(e); err != nil {
					t.Errorf("%s: %v", p.name, err)
				}
				// A server in both the script and the config is the same.
				if w, ok := written[p.name]; ok && (w.Command != e.Command || !slices.Equal(w.Args, e.Args) || len(w.Env) != len(e.Env) && len(e.Env) > 0) {
					t.Errorf("%s: %s adds %+v, %s has %+v", p.name, tc.script, e, tc.config, w)
				}
			}
		})
	}
	// The controls: the orders the scripts avoid fail.
	if _, err := parseAdd([]string{"mcp", "add", "-e", "A=1", "github", "--", "/bin/mcp-secrets", "run", "--", "x"}, claudeOpts, true); err == nil {
		t.Error("claude: -e before the name passes")
	}
	if _, err := parseAdd([]string{"mcp", "add", "github", "/bin/mcp-secrets", "run", "--env-file", "/e", "--", "x"}, geminiOpts, true); err == nil {
		t.Error("gemini: run's flags before -- pass")
	}
}

// The examples scan clean: their values are references, and a fake that
// looks real would carry audit.AllowMarker.
func TestScanClean(t *testing.T) {
	d, err := rules.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &audit.Scanner{Detector: d, Getenv: func(string) string { return "" }, GOOS: "linux", Dir: ".."}
	r := s.Scan(context.Background(), []string{"."})
	if len(r.Findings) > 0 || len(r.Errors) > 0 || len(r.Skipped) > 0 {
		t.Errorf("scan examples: %+v", r)
	}
	if r.Files < len(configs) {
		t.Errorf("scan examples read %d files, want at least %d", r.Files, len(configs))
	}
}
