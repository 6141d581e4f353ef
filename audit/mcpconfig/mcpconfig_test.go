package mcpconfig

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// values lists every string Parse found, as "line location=value".
func values(f *File) []string {
	var out []string
	add := func(s *String) {
		if s != nil {
			out = append(out, fmt.Sprintf("%d %s=%s", s.Line, s.Location, s.Value))
		}
	}
	for _, srv := range f.Servers {
		add(srv.Command)
		for i := range srv.Args {
			add(&srv.Args[i])
		}
		for i := range srv.Env {
			add(&srv.Env[i].String)
		}
		for i := range srv.Headers {
			add(&srv.Headers[i].String)
		}
		add(srv.URL)
	}
	return out
}

// unlined drops the line numbers: a multi-line TOML string written back as
// a basic string moves the values after it.
func unlined(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		_, out[i], _ = strings.Cut(v, " ")
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, path, data string
		want             []string
	}{
		{
			name: "Claude Desktop",
			path: "claude_desktop_config.json",
			data: `{
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_x", "N": 5}
    },
    "weird name": {"command": "x"}
  },
  "globalShortcut": "Ctrl+Space"
}`,
			want: []string{
				"4 mcpServers.github.command=npx",
				"5 mcpServers.github.args[0]=-y",
				"5 mcpServers.github.args[1]=@modelcontextprotocol/server-github",
				"6 mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN=ghp_x",
				`8 mcpServers["weird name"].command=x`,
			},
		},
		{
			name: "Claude Code: user and project servers, remote headers",
			path: ".claude.json",
			data: `{"numStartups": 3,
"mcpServers": {"sentry": {"type": "http", "url": "https://mcp.sentry.dev/mcp", "headers": {"Authorization": "Bearer x"}}},
"projects": {"/home/u/app": {"allowedTools": [], "mcpServers": {"pg": {"command": "npx", "args": ["postgresql://u:p@h/db"]}}}}}`,
			want: []string{
				"2 mcpServers.sentry.headers.Authorization=Bearer x",
				"2 mcpServers.sentry.url=https://mcp.sentry.dev/mcp",
				`3 projects["/home/u/app"].mcpServers.pg.command=npx`,
				`3 projects["/home/u/app"].mcpServers.pg.args[0]=postgresql://u:p@h/db`,
			},
		},
		{
			name: "VS Code mcp.json: JSONC, servers, inputs",
			path: ".vscode/mcp.json",
			data: `{
  // secrets come from inputs
  "inputs": [{"type": "promptString", "id": "key", "password": true}],
  "servers": {
    "brave": {
      "type": "stdio", /* stdio */
      "command": "npx",
      "env": {"BRAVE_API_KEY": "${input:key}",},
    },
  },
}`,
			want: []string{
				"7 servers.brave.command=npx",
				"8 servers.brave.env.BRAVE_API_KEY=${input:key}",
			},
		},
		{
			name: "VS Code settings.json",
			path: "settings.json",
			data: `{"editor.fontSize": 14, "mcp": {"servers": {"fs": {"command": "npx", "args": ["/safe/workspace"]}}}}`,
			want: []string{
				"1 mcp.servers.fs.command=npx",
				"1 mcp.servers.fs.args[0]=/safe/workspace",
			},
		},
		{
			name: "Gemini CLI and Windsurf URLs",
			path: "settings.json",
			data: `{"mcpServers": {"a": {"httpUrl": "https://a.example/mcp"}, "b": {"serverUrl": "https://b.example/sse"}}}`,
			want: []string{
				"1 mcpServers.a.httpUrl=https://a.example/mcp",
				"1 mcpServers.b.serverUrl=https://b.example/sse",
			},
		},
		{
			name: "Codex",
			path: "config.toml",
			data: `model = "o3"

[mcp_servers.github]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-github"]
env = { "GITHUB_PERSONAL_ACCESS_TOKEN" = "ghp_x", N = 5 }

[mcp_servers.pg.env]
PGPASSWORD = 'literal'

[mcp_servers]
inline = { command = "uvx", args = [], env = { K = """multi
line""" } }
dotted.command = "node"

[[profiles]]
mcp_servers.x.command = "ignored"

[other]
mcp_servers = "no"
`,
			want: []string{
				"4 mcp_servers.github.command=npx",
				"5 mcp_servers.github.args[0]=-y",
				"5 mcp_servers.github.args[1]=@modelcontextprotocol/server-github",
				"6 mcp_servers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN=ghp_x",
				"9 mcp_servers.pg.env.PGPASSWORD=literal",
				"12 mcp_servers.inline.command=uvx",
				"12 mcp_servers.inline.env.K=multi\nline",
				"14 mcp_servers.dotted.command=node",
			},
		},
		{
			name: "what is not servers is not checked",
			path: ".claude.json",
			data: `{"projects": [1], "other": {"mcpServers": 5}, "mcp": {"allowed": 1},
"servers": {"a": {"command": "x", "type": 5, "cwd": null, "env": {"PORT": 8080, "NULL": null, "DEEP": {"K": "v"}}}}}`,
			want: []string{"2 servers.a.command=x"},
		},
		{name: "empty JSON object", path: "x.json", data: `{}`},
		{name: "empty TOML", path: "x.toml", data: ``},
		{
			name: "TOML: what is not servers is not checked",
			path: "config.toml",
			data: "mcp_servers.a.command = 'x'\nmcp_servers.a.startup_timeout_sec = 'no'\nmcp_servers.a.env.PORT = 8080\n[[profiles]]\nmcp_servers = 1\n[mcp_servers.a.env.DEEP]\nK = 'v'\n",
			want: []string{"1 mcp_servers.a.command=x"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.path, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if got := values(f); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// Every span is the literal of its value.
			for _, srv := range f.Servers {
				for _, e := range srv.Env {
					start, end := e.start, e.end
					again, err := Parse(tc.path, Apply(f.Data, []Splice{f.Set(e.String, e.Value)}))
					if err != nil || strings.Join(unlined(values(again)), "\n") != strings.Join(unlined(values(f)), "\n") {
						t.Errorf("setting %s to its own value [%d:%d] changed the file: %v", e.Location, start, end, err)
					}
				}
			}
		})
	}
}

func TestEdit(t *testing.T) {
	tests := []struct {
		name, path, data, want string
	}{
		{
			name: "one line",
			path: "c.json",
			data: `{"mcpServers": {"gh": {"command": "npx", "args": ["-y", "pkg"], "env": {"T": "ghp_x"}}}}`,
			want: `{"mcpServers": {"gh": {"command": "/bin/mcp-secrets", "args": ["run", "--", "npx", "-y", "pkg"], "env": {"T": "$<aws:p/gh#T>"}}}}`,
		},
		{
			name: "indented, no args, JSONC",
			path: "mcp.json",
			data: `{
  "servers": {
    // GitHub
    "gh": {
      "command": "npx", // the launcher
      "env": {
        "T": "ghp_x" /* pasted */
      }
    }
  }
}
`,
			want: `{
  "servers": {
    // GitHub
    "gh": {
      "command": "/bin/mcp-secrets",
      "args": ["run", "--", "npx"], // the launcher
      "env": {
        "T": "$<aws:p/gh#T>" /* pasted */
      }
    }
  }
}
`,
		},
		{
			name: "multi-line args",
			path: "c.json",
			data: `{"mcpServers": {"gh": {
	"command": "npx",
	"args": [
		"-y",
		"pkg"
	]
}}}`,
			want: `{"mcpServers": {"gh": {
	"command": "/bin/mcp-secrets",
	"args": [
		"run",
		"--",
		"npx",
		"-y",
		"pkg"
	]
}}}`,
		},
		{
			name: "empty args",
			path: "c.json",
			data: `{"mcpServers": {"gh": {"command": "npx", "args": []}}}`,
			want: `{"mcpServers": {"gh": {"command": "/bin/mcp-secrets", "args": ["run", "--", "npx"]}}}`,
		},
		{
			name: "TOML table",
			path: "config.toml",
			data: `[mcp_servers.gh]
command = "npx" # launcher
env = { T = "ghp_x" }
`,
			want: `[mcp_servers.gh]
command = "/bin/mcp-secrets"
args = ["run", "--", "npx"] # launcher
env = { T = "$<aws:p/gh#T>" }
`,
		},
		{
			name: "TOML inline and dotted",
			path: "config.toml",
			data: `[mcp_servers]
gh = { command = "npx", env = { T = 'ghp_x' } }
other.command = "npx"
`,
			want: `[mcp_servers]
gh = { command = "/bin/mcp-secrets", args = ["run", "--", "npx"], env = { T = "$<aws:p/gh#T>" } }
other.command = "/bin/mcp-secrets"
other.args = ["run", "--", "npx"]
`,
		},
		{
			name: "TOML args",
			path: "config.toml",
			data: "[mcp_servers.gh]\ncommand = \"npx\"\nargs = [\n  \"-y\",\n]\n[mcp_servers.e]\ncommand = \"x\"\nargs=[]\n",
			want: "[mcp_servers.gh]\ncommand = \"/bin/mcp-secrets\"\nargs = [\n  \"run\",\n  \"--\",\n  \"npx\",\n  \"-y\",\n]\n[mcp_servers.e]\ncommand = \"/bin/mcp-secrets\"\nargs=[\"run\", \"--\", \"x\"]\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.path, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			var splices []Splice
			for _, srv := range f.Servers {
				sp, err := f.Prepend(srv, []string{"run", "--", srv.Command.Value})
				if err != nil {
					t.Fatal(err)
				}
				splices = append(splices, f.Set(*srv.Command, "/bin/mcp-secrets"), sp)
				for _, e := range srv.Env {
					splices = append(splices, f.Set(e.String, "$<aws:p/"+srv.Name+"#"+e.Name+">"))
				}
			}
			got := string(Apply(f.Data, splices))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if _, err := Parse(tc.path, []byte(got)); err != nil {
				t.Errorf("the edited file does not parse: %v", err)
			}
		})
	}
}

func TestPrependRefused(t *testing.T) {
	f, err := Parse("c.json", []byte(`{"mcpServers": {"b": {"url": "https://x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range f.Servers {
		if _, err := f.Prepend(srv, []string{"run"}); err == nil {
			t.Errorf("%s: no error", srv.Name)
		}
	}
}

// A file whose servers are not of the shape clients read is an error that
// names the line and the JSON path (TOML key) of the first misshapen
// value. The control: each file, with that one value made right, parses.
func TestShapeError(t *testing.T) {
	tests := []struct {
		path, data, want, fixed string
	}{
		{"c.json", `[1,2,3]`, "line 1: the top level: an array, want an object", `{}`},
		{"c.json", `"str"`, "line 1: the top level: a string, want an object", `{}`},
		{"c.json", `null`, "line 1: the top level: null, want an object", `{}`},
		{"c.json", `{"mcpServers": null}`, "line 1: mcpServers: null, want an object", `{"mcpServers": {}}`},
		{"c.json", `{"mcpServers": []}`, "line 1: mcpServers: an array, want an object", `{"mcpServers": {}}`},
		{"c.json", "{\n\"mcpServers\": {\"x\": 5}}", "line 2: mcpServers.x: a number, want an object", `{"mcpServers": {"x": {}}}`},
		{"c.json", `{"servers": {"x": {"command": ["npx"]}}}`, "line 1: servers.x.command: an array, want a string", `{"servers": {"x": {"command": "npx"}}}`},
		{"c.json", `{"mcpServers": {"x": {"command": "npx", "args": "-y"}}}`, "line 1: mcpServers.x.args: a string, want an array", `{"mcpServers": {"x": {"command": "npx", "args": ["-y"]}}}`},
		{"c.json", `{"mcpServers": {"x": {"args": ["-y", 2]}}}`, "line 1: mcpServers.x.args[1]: a number, want a string", `{"mcpServers": {"x": {"args": ["-y", "2"]}}}`},
		{"c.json", `{"mcpServers": {"x": {"env": ["A=1"]}}}`, "line 1: mcpServers.x.env: an array, want an object", `{"mcpServers": {"x": {"env": {"A": "1"}}}}`},
		{"c.json", `{"mcpServers": {"x": {"headers": "A: b"}}}`, "line 1: mcpServers.x.headers: a string, want an object", `{"mcpServers": {"x": {"headers": {"A": "b"}}}}`},
		{"c.json", `{"mcpServers": {"x": {"url": true}}}`, "line 1: mcpServers.x.url: a boolean, want a string", `{"mcpServers": {"x": {"url": "https://x"}}}`},
		{"c.json", `{"mcp": {"servers": 1}}`, "line 1: mcp.servers: a number, want an object", `{"mcp": {"servers": {}}}`},
		{"c.json", `{"mcp": []}`, "line 1: mcp: an array, want an object", `{"mcp": {}}`},
		{"c.json", `{"projects": {"/p": {"mcpServers": "x"}}}`, `line 1: projects["/p"].mcpServers: a string, want an object`, `{"projects": {"/p": {"mcpServers": {}}}}`},
		{"c.json", `{"mcpServers": {"a": 1, "b": 2}}`, "line 1: mcpServers.a: a number, want an object", `{"mcpServers": {"a": {}, "b": {}}}`},
		{"config.toml", "mcp_servers = 5\n", "line 1: mcp_servers: a number, want a table", "mcp_servers = {}\n"},
		{"config.toml", "mcp_servers = [1]\n", "line 1: mcp_servers: an array, want a table", "mcp_servers = {}\n"},
		{"config.toml", "[[mcp_servers]]\ncommand = 'x'\n", "line 1: mcp_servers: an array of tables, want a table", "[mcp_servers.a]\ncommand = 'x'\n"},
		{"config.toml", "[mcp_servers]\nx = 5\n", "line 2: mcp_servers.x: a number, want a table", "[mcp_servers]\nx = {}\n"},
		{"config.toml", "mcp_servers = { x = 'npx' }\n", "line 1: mcp_servers.x: a string, want a table", "mcp_servers = { x = { command = 'npx' } }\n"},
		{"config.toml", "[mcp_servers.x]\ncommand = 5\n", "line 2: mcp_servers.x.command: a number, want a string", "[mcp_servers.x]\ncommand = '5'\n"},
		{"config.toml", "[mcp_servers.x.command]\npath = 'npx'\n", "line 1: mcp_servers.x.command: a table, want a string", "[mcp_servers.x]\ncommand = 'npx'\n"},
		{"config.toml", "[mcp_servers.x]\nargs = '-y'\n", "line 2: mcp_servers.x.args: a string, want an array", "[mcp_servers.x]\nargs = ['-y']\n"},
		{"config.toml", "[mcp_servers.x]\nargs = ['-y', 1]\n", "line 2: mcp_servers.x.args[1]: a number, want a string", "[mcp_servers.x]\nargs = ['-y', '1']\n"},
		{"config.toml", "[mcp_servers.x]\nenv = 'A=1'\n", "line 2: mcp_servers.x.env: a string, want a table", "[mcp_servers.x]\nenv = { A = '1' }\n"},
		{"config.toml", "[[mcp_servers.x.http_headers]]\nA = 'b'\n", "line 1: mcp_servers.x.http_headers: an array of tables, want a table", "[mcp_servers.x.http_headers]\nA = 'b'\n"},
		{"config.toml", "[mcp_servers.x]\nurl = 1979-05-27\n", "line 2: mcp_servers.x.url: a date or time, want a string", "[mcp_servers.x]\nurl = 'https://x'\n"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.path, []byte(tc.data))
		var se *ShapeError
		if !errors.As(err, &se) || !errors.Is(err, providers.ErrMalformed) || err.Error() != tc.want {
			t.Errorf("%s %q: %v, want %q", tc.path, tc.data, err, tc.want)
		}
		if _, err := Parse(tc.path, []byte(tc.fixed)); err != nil {
			t.Errorf("control: %s %q: %v", tc.path, tc.fixed, err)
		}
	}
}

// safeError is every message a parse error may have: a position and a
// reason of the package's own, nothing of the input.
var safeError = regexp.MustCompile(`^line \d+, column \d+: [a-zA-Z ,:"(){}\[\]?]+$`)

// shapeReason is the form of a ShapeError's reason: two kinds of value.
var shapeReason = regexp.MustCompile(`^(null|a boolean|a number|a string|an array|an object|a table|an array of tables|a date or time), want (an object|an array|a string|a table)$`)

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		path, data string
		line, col  int
	}{
		{"c.json", `{"mcpServers": {"a": {"env": {"K": sk-live-abcdefghijklmnop}}}}`, 1, 36},
		{"c.json", "{\n  \"a\": \"b\"\n  \"c\": 1\n}", 3, 3},
		{"c.json", `{"a": "unterminated`, 1, 20},
		{"c.json", `{"a": "b"} trailing`, 1, 12},
		{"c.toml", "[mcp_servers.a]\nenv = { K = sk-live-abcdefghijklmnop }\n", 2, 13},
		{"c.toml", "a = \"unterminated\n", 1, 18},
	}
	for _, tc := range tests {
		_, err := Parse(tc.path, []byte(tc.data))
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%q: error %v, want a SyntaxError", tc.data, err)
			continue
		}
		if se.Line != tc.line || se.Column != tc.col {
			t.Errorf("%q: at %d:%d, want %d:%d", tc.data, se.Line, se.Column, tc.line, tc.col)
		}
		if !safeError.MatchString(err.Error()) || strings.Contains(err.Error(), "abcdef") {
			t.Errorf("%q: message %q may quote the input", tc.data, err)
		}
	}
}

// The readers never panic, their errors never quote the input, every value
// they report sits where they say, and an edit of any value leaves a file
// that parses to the same servers with that one value changed.
func FuzzParse(f *testing.F) {
	f.Add("c.json", []byte(`{"mcpServers": {"gh": {"command": "npx", "args": ["-y"], "env": {"T": "ghp_x"}, "headers": {"A": "b"}, "url": "u"}}}`))
	f.Add("c.json", []byte("{\n // c\n \"servers\": {\"x\": {\"command\": \"a\", \"args\": [\n  \"b\",\n ],},},\n}"))
	f.Add("c.json", []byte(`{"projects": {"/p": {"mcpServers": {"a": {"command": "x"}}}}, "mcp": {"servers": {}}}`))
	f.Add("c.toml", []byte("[mcp_servers.gh]\ncommand = \"npx\"\nargs = ['-y']\nenv = { T = \"\"\"x\ny\"\"\" }\n[mcp_servers]\na = { command = \"b\" }\nc.command = 'd'\n"))
	f.Add("c.toml", []byte("[mcp_servers.a.env]\nK = \"v\"\n[[x]]\ny = 1\n"))
	f.Add("c.json", []byte(`{"mcpServers": {"r": {"type": "http", "url": "https://x", "headers": {"A": "b"}, "timeout": 5}}}`))
	f.Add("c.toml", []byte("[mcp_servers.r]\nurl = \"https://x\"\n[mcp_servers.r.http_headers]\nA = \"b\"\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		path := "c.json"
		if strings.HasSuffix(name, ".toml") {
			path = "c.toml"
		}
		cfg, err := Parse(path, data)
		var se *ShapeError
		switch {
		case errors.As(err, &se):
			if !shapeReason.MatchString(se.Reason) || err.Error() != fmt.Sprintf("line %d: %s: %s", se.Line, cmp.Or(se.Location, "the top level"), se.Reason) {
				t.Fatalf("shape error %q is not of the safe form", err)
			}
			return
		case err != nil:
			if !safeError.MatchString(err.Error()) {
				t.Fatalf("error %q is not of the safe form", err)
			}
			return
		}
		for _, srv := range cfg.Servers {
			strs := []*String{srv.Command, srv.URL}
			for i := range srv.Args {
				strs = append(strs, &srv.Args[i])
			}
			for i := range srv.Env {
				strs = append(strs, &srv.Env[i].String)
			}
			for _, s := range strs {
				if s == nil {
					continue
				}
				start, end := s.start, s.end
				if start < 0 || end > len(data) || start >= end {
					t.Fatalf("%s: span [%d:%d] outside the file", s.Location, start, end)
				}
				edited := Apply(data, []Splice{cfg.Set(*s, "$<aws:x/y#Z>")})
				again, err := Parse(path, edited)
				if err != nil {
					t.Fatalf("setting %s broke the file: %v\n%s", s.Location, err, edited)
				}
				if len(values(again)) != len(values(cfg)) {
					t.Fatalf("setting %s changed the servers:\n%q\n%q", s.Location, values(cfg), values(again))
				}
			}
			if srv.Command != nil && srv.argsValid {
				sp, err := cfg.Prepend(srv, []string{"run", "--"})
				if err != nil {
					t.Fatal(err)
				}
				again, err := Parse(path, Apply(data, []Splice{sp}))
				if err != nil {
					t.Fatalf("prepending to %s broke the file: %v\n%s", srv.Location, err, Apply(data, []Splice{sp}))
				}
				for _, s := range again.Servers {
					if s.Location == srv.Location && (len(s.Args) != len(srv.Args)+2 || s.Args[0].Value != "run") {
						t.Fatalf("prepending to %s: args %d, want %d", srv.Location, len(s.Args), len(srv.Args)+2)
					}
				}
			}
			// A remote entry made stdio parses, with the same servers, that
			// one a stdio entry with the arguments given.
			if srv.URL != nil && srv.Command == nil {
				sp, err := cfg.Stdio(srv, "/bin/mcp-secrets", []string{"connect", "https://x"})
				if err != nil {
					continue // a layout left to the user, or a key it cannot carry
				}
				edited := Apply(data, sp)
				again, err := Parse(path, edited)
				if err != nil {
					t.Fatalf("making %s stdio broke the file: %v\n%s", srv.Location, err, edited)
				}
				if len(again.Servers) != len(cfg.Servers) {
					t.Fatalf("making %s stdio: %d servers, want %d\n%s", srv.Location, len(again.Servers), len(cfg.Servers), edited)
				}
				for _, s := range again.Servers {
					if s.Location == srv.Location && (s.Command == nil || s.URL != nil || len(s.Args) != 2 || len(s.Headers) != 0) {
						t.Fatalf("making %s stdio left it %+v\n%s", srv.Location, s, edited)
					}
				}
			}
		}
	})
}
