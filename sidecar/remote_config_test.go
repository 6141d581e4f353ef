package sidecar

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/remote"
)

// url entries: as Claude Code, VS Code and Windsurf write them, served;
// mixed with stdio keys, or unusable, refused with every problem named.
func TestParseRemoteConfig(t *testing.T) {
	for _, tt := range []struct {
		name, json string
		want       []ServerConfig
		problems   []string // one line each, in order
	}{
		{
			name: "url entries",
			json: `{"mcpServers": {
				"gh": {"type": "http", "url": "https://api.githubcopilot.com/mcp/", "headers": {"Authorization": "Bearer $<vault:secret/gh#token>", "X-Team": "core"}},
				"ws": {"serverUrl": "https://mcp.example.com/mcp?key=$<KEY>"},
				"sh": {"type": "streamable-http", "url": "http://127.0.0.1:8080/mcp"}}}`,
			want: []ServerConfig{
				{Name: "gh", URL: "https://api.githubcopilot.com/mcp/", Headers: []remote.Header{{Name: "Authorization", Value: "Bearer $<vault:secret/gh#token>"}, {Name: "X-Team", Value: "core"}}},
				{Name: "ws", URL: "https://mcp.example.com/mcp?key=$<KEY>"},
				{Name: "sh", URL: "http://127.0.0.1:8080/mcp"},
			},
		},
		{
			name: "every problem of a url entry",
			json: `{"mcpServers": {
				"a": {"url": "https://x/mcp", "command": "x", "env": {"A": "1"}},
				"b": {"type": "sse", "url": "https://x/sse"},
				"c": {"type": "stdio", "url": "https://x/mcp"},
				"d": {"url": "ftp://x/mcp"},
				"e": {"url": "https://x/mcp", "headers": {"Mcp-Session-Id": "x"}},
				"f": {"url": "https://x/mcp", "headers": {"A": 1}},
				"g": {"headers": {"A": "1"}, "command": "x"},
				"h": {"type": "http"},
				"i": {"url": "https://x/mcp", "serverUrl": "https://y/mcp"}}}`,
			problems: []string{
				`f.json: mcpServers.a: a url entry has no command, args or env`,
				`f.json: mcpServers.b: type "sse": want stdio, or http`,
				`f.json: mcpServers.c: type stdio with a url`,
				`f.json: mcpServers.d: the URL must be http:// or https:// with a host`,
				`f.json: mcpServers.e: header Mcp-Session-Id: set by mcp-secrets itself`,
				`f.json: mcpServers.f.headers.A: not a string`,
				`f.json: mcpServers.g: headers without a url`,
				`f.json: mcpServers.h: type http without a url`,
				`f.json: mcpServers.i: both url and serverUrl`,
			},
		},
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
