package sidecar

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

func TestParseConfig(t *testing.T) {
	for _, tt := range []struct {
		name, json string
		want       []ServerConfig
		problems   []string // one line each, in order
	}{
		{
			name: "servers in order",
			json: `{"mcpServers": {
				"github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"], "env": {"GITHUB_TOKEN": "$<aws:gh#token>"}},
				"db": {"type": "stdio", "command": "db-server"}}}`,
			want: []ServerConfig{
				{Name: "github", Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-github"}, Env: map[string]string{"GITHUB_TOKEN": "$<aws:gh#token>"}},
				{Name: "db", Command: "db-server"},
			},
		},
		{
			name:     "duplicate server",
			json:     `{"mcpServers": {"a": {"command": "x"}, "a": {"command": "y"}}}`,
			want:     []ServerConfig{{Name: "a", Command: "x"}},
			problems: []string{`f.json: mcpServers: duplicate key "a"`},
		},
		{
			name:     "duplicate key and variable",
			json:     `{"mcpServers": {"a": {"command": "x", "env": {"K": "1", "K": "2"}, "command": "y"}}}`,
			problems: []string{`f.json: mcpServers.a.env: duplicate key "K"`, `f.json: mcpServers.a: duplicate key "command"`},
		},
		{
			name:     "escaped duplicate",
			json:     `{"mcpServers": {"a": {"command": "x"}, "\u0061": {"command": "y"}}}`,
			want:     []ServerConfig{{Name: "a", Command: "x"}},
			problems: []string{`f.json: mcpServers: duplicate key "a"`},
		},
		{
			name: "every problem of a server",
			json: `{"mcpServers": {"a": {"command": "", "args": "x", "env": {"": "v", "N": 2}, "cwd": "/"}}}`,
			problems: []string{
				`f.json: mcpServers.a.command: not a non-empty string`,
				`f.json: mcpServers.a.args: not an array of strings`,
				`f.json: mcpServers.a.env: "" is not a variable name`,
				`f.json: mcpServers.a.env.N: not a string`,
				`f.json: mcpServers.a: unknown key "cwd" (want command, args, env; or url, headers)`,
			},
		},
		{
			name: "http without a url",
			json: `{"mcpServers": {"s": {"type": "http", "command": "x"}}}`,
			problems: []string{
				`f.json: mcpServers.s: type http without a url`,
			},
		},
		{
			name:     "a name that is no path segment",
			json:     `{"mcpServers": {"a/b": {"command": "x"}, ".x": {"command": "x"}}}`,
			problems: []string{`f.json: mcpServers.a/b: the name must`, `f.json: mcpServers..x: the name must`},
		},
		{name: "no servers", json: `{"mcpServers": {}}`, problems: []string{"f.json: mcpServers: no servers"}},
		{name: "no mcpServers", json: `{"servers": {}}`, problems: []string{`f.json: unknown key "servers" (want mcpServers)`, "f.json: no mcpServers"}},
		{name: "not an object", json: `[]`, problems: []string{"f.json: not a JSON object"}},
		{name: "an array", json: `[1,2,3]`, problems: []string{"f.json: not a JSON object"}},
		{name: "a string", json: `"str"`, problems: []string{"f.json: not a JSON object"}},
		{name: "null", json: `null`, problems: []string{"f.json: not a JSON object"}},
		{name: "servers null", json: `{"mcpServers": null}`, problems: []string{"f.json: mcpServers: not an object"}},
		{name: "server a number", json: `{"mcpServers": {"x": 5}}`, problems: []string{"f.json: mcpServers.x: not an object"}},
		{name: "servers not an object", json: `{"mcpServers": []}`, problems: []string{"f.json: mcpServers: not an object"}},
		{name: "server not an object", json: `{"mcpServers": {"a": "x"}}`, problems: []string{"f.json: mcpServers.a: not an object"}},
		{name: "syntax", json: "{\n  \"mcpServers\": {,}}", problems: []string{"f.json: line 2, column 18: invalid character ',' looking for beginning of object key string"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("f.json", []byte(tt.json))
			var lines []string
			if err != nil {
				lines = strings.Split(err.Error(), "\n")
				if !errors.Is(err, providers.ErrMalformed) {
					t.Errorf("%v is not of kind malformed (exit code 65)", err)
				}
			}
			if len(lines) != len(tt.problems) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tt.problems, "\n"))
			}
			for i, want := range tt.problems {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("problem %d: %s\nwant: %s", i, lines[i], want)
				}
			}
			var got []ServerConfig
			if c != nil {
				got = c.Servers
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("servers: %+v\nwant: %+v", got, tt.want)
			}
		})
	}
}

// The file is a regular file of at most MaxConfig bytes: one too large is
// malformed (exit 65), what is no regular file a configuration error (78),
// each in one line naming the file.
func TestLoadConfigBounds(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.json")
	// The control: at the limit, the file is read (and found to hold a
	// server whose command is not in PATH).
	head := `{"mcpServers": {"a": {"command": "/nonexistent/server"}}}`
	if err := os.WriteFile(ok, []byte(head+strings.Repeat(" ", MaxConfig-len(head))), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(head+strings.Repeat(" ", MaxConfig+1-len(head))), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		kind error
		msg  string
	}{
		{ok, providers.ErrConfig, ok + ": mcpServers.a: exec: \"/nonexistent/server\": stat /nonexistent/server: no such file or directory"},
		{big, providers.ErrMalformed, "--config: " + big + ": larger than 1 MiB"},
		{dir, providers.ErrConfig, "--config: " + dir + ": not a regular file"},
		{filepath.Join(dir, "missing.json"), providers.ErrConfig, "--config: open " + filepath.Join(dir, "missing.json") + ": no such file or directory"},
	}
	for _, tc := range tests {
		_, err := LoadConfig(tc.path)
		if !errors.Is(err, tc.kind) || err.Error() != tc.msg {
			t.Errorf("LoadConfig(%s) = %v, want %v %q", tc.path, err, tc.kind, tc.msg)
		}
	}
}
