package mcpconfig

import (
	"strings"
	"testing"
)

// A remote entry becomes a stdio entry in each client's layout: the URL
// key becomes command and args in its place, headers go, type becomes
// stdio (Gemini CLI's goes), and every other key, comment and byte stays.
func TestStdio(t *testing.T) {
	args := []string{"connect", "--header", "Authorization: Bearer $<dotenv:T>", "https://x.example/mcp"}
	tests := []struct {
		name, path, data, want string
	}{{
		name: "Claude Code, headers last",
		path: ".mcp.json",
		data: `{
  "mcpServers": {
    "x": {
      "type": "http",
      "url": "https://x.example/mcp",
      "headers": {
        "Authorization": "Bearer t"
      }
    },
    "y": {"command": "y"}
  }
}
`,
		want: `{
  "mcpServers": {
    "x": {
      "type": "stdio",
      "command": "/bin/mcp-secrets",
      "args": ["connect", "--header", "Authorization: Bearer $<dotenv:T>", "https://x.example/mcp"]
    },
    "y": {"command": "y"}
  }
}
`,
	}, {
		name: "VS Code JSONC, headers first, comments and trailing commas",
		path: "mcp.json",
		data: `{"servers": {
  "x": {
    "headers": {"Authorization": "Bearer t"}, // pasted
    "type": "http",
    "url": "https://x.example/mcp", /* remote */
    "timeout": 5,
  },
}}`,
		want: `{"servers": {
  "x": {
    "type": "stdio",
    "command": "/bin/mcp-secrets",
    "args": ["connect", "--header", "Authorization: Bearer $<dotenv:T>", "https://x.example/mcp"], /* remote */
    "timeout": 5,
  },
}}`,
	}, {
		name: "Cursor, one line",
		path: "mcp.json",
		data: `{"mcpServers": {"x": {"url": "https://x.example/mcp", "headers": {"Authorization": "Bearer t"}}}}`,
		want: `{"mcpServers": {"x": {"command": "/bin/mcp-secrets", "args": ["connect", "--header", "Authorization: Bearer $<dotenv:T>", "https://x.example/mcp"]}}}`,
	}, {
		name: "Gemini CLI: httpUrl, no type for stdio",
		path: "settings.json",
		data: `{"mcpServers": {"x": {"type": "http", "httpUrl": "https://x.example/mcp", "headers": {"Authorization": "Bearer t"}, "trust": false}}}`,
		want: `{"mcpServers": {"x": {"command": "/bin/mcp-secrets", "args": ["connect", "--header", "Authorization: Bearer $<dotenv:T>", "https://x.example/mcp"], "trust": false}}}`,
	}, {
		name: "Windsurf: serverUrl",
		path: "mcp_config.json",
		data: `{"mcpServers": {"x": {"serverUrl": "https://x.example/mcp", "headers": {"Authorization": "Bearer t"}, "disabled": false}}}`,
		want: `{"mcpServers": {"x": {"command": "/bin/mcp-secrets", "args": ["connect", "--header", "Authorization: Bearer $<dotenv:T>", "https://x.example/mcp"], "disabled": false}}}`,
	}, {
		name: "Codex: http_headers inline and as a subtable",
		path: "config.toml",
		data: `[mcp_servers.x]
url = "https://x.example/mcp" # remote
http_headers = { "Authorization" = "Bearer t" }
startup_timeout_sec = 20

[mcp_servers.y]
url = "https://y.example/mcp"

[mcp_servers.y.http_headers]
Authorization = "Bearer t"
# kept
[other]
k = 1
`,
		want: `[mcp_servers.x]
command = "/bin/mcp-secrets"
args = ["connect", "--header", "Authorization: Bearer $<dotenv:T>", "https://x.example/mcp"] # remote
startup_timeout_sec = 20

[mcp_servers.y]
command = "/bin/mcp-secrets"
args = ["connect", "--header", "Authorization: Bearer $<dotenv:T>", "https://x.example/mcp"]

# kept
[other]
k = 1
`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.path, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			var splices []Splice
			for _, srv := range f.Servers {
				if srv.URL == nil {
					continue
				}
				sp, err := f.Stdio(srv, "/bin/mcp-secrets", args)
				if err != nil {
					t.Fatal(err)
				}
				splices = append(splices, sp...)
			}
			got := string(Apply(f.Data, splices))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			g, err := Parse(tc.path, []byte(got))
			if err != nil {
				t.Fatalf("the edited file does not parse: %v", err)
			}
			for _, srv := range g.Servers {
				if srv.URL != nil || len(srv.Headers) > 0 || srv.Command == nil {
					t.Errorf("%s is still remote", srv.Location)
				}
			}
		})
	}
}

func TestStdioRefused(t *testing.T) {
	for _, tc := range []struct{ path, data, err string }{
		{"config.toml", "[mcp_servers]\nx = { url = \"https://x\" }\n", "its url is not on a line of its own"},
		{"config.toml", "[mcp_servers.x]\nurl = \"https://x\"\nbearer_token_env_var = \"T\"\n", "has bearer_token_env_var"},
		{".mcp.json", `{"mcpServers": {"x": {"type": "http", "url": "https://x", "oauth": {"clientId": "c"}}}}`, "has oauth"},
	} {
		f, err := Parse(tc.path, []byte(tc.data))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Stdio(f.Servers[0], "/bin/mcp-secrets", []string{"connect", "https://x"}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.data, err, tc.err)
		}
	}
	// The control: the same entry without what is in the way.
	f, _ := Parse("config.toml", []byte("[mcp_servers.x]\nurl = \"https://x\"\n"))
	if _, err := f.Stdio(f.Servers[0], "/bin/mcp-secrets", []string{"connect", "https://x"}); err != nil {
		t.Error(err)
	}
}

func TestSSE(t *testing.T) {
	for data, want := range map[string]bool{
		`{"mcpServers": {"x": {"type": "sse", "url": "https://x/sse"}}}`:          true,
		`{"mcpServers": {"x": {"type": "http", "url": "https://x/mcp"}}}`:         false,
		`{"mcpServers": {"x": {"url": "https://x/mcp"}}}`:                         false,
		`{"mcpServers": {"x": {"httpUrl": "https://x/mcp"}}}` + "\n":              false,
		`{"mcpServers": {"x": {"url": "https://x/sse"}}}` + "\n\n":                true, // Gemini CLI's url
		`{"mcpServers": {"x": {"type": "http", "url": "https://x/mcp"}}}` + "\n ": false,
	} {
		path := ".mcp.json"
		if strings.HasSuffix(data, "\n") {
			path = "settings.json"
		}
		f, err := Parse(path, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.SSE(f.Servers[0]); got != want {
			t.Errorf("%s %s: SSE %v", path, data, got)
		}
	}
}

// A key that repeats is read as clients read it, the last one winning:
// every URL key goes.
func TestStdioRepeatedKeys(t *testing.T) {
	f, err := Parse(".mcp.json", []byte(`{"mcpServers": {"r": {"url": "https://a", "type": "http", "url": "https://b", "headers": {}, "headers": {"A": "b"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := f.Stdio(f.Servers[0], "/bin/mcp-secrets", []string{"connect", "https://b"})
	if err != nil {
		t.Fatal(err)
	}
	got := string(Apply(f.Data, sp))
	if want := `{"mcpServers": {"r": {"type": "stdio", "command": "/bin/mcp-secrets", "args": ["connect", "https://b"]}}}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
