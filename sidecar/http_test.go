package sidecar

import (
	"net/http"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
)

func TestCheckStateless(t *testing.T) {
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
	read := `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
	noMeta := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tt := range []struct {
		name, line string
		header     http.Header
		code       int
	}{
		{"all match", call, h("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/call", "Mcp-Name", "echo"), 0},
		{"resources/read by uri", read, h("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "resources/read", "Mcp-Name", "file:///a"), 0},
		{"no version header", call, h("Mcp-Method", "tools/call", "Mcp-Name", "echo"), headerMismatch},
		{"versions differ", call, h("Mcp-Protocol-Version", "2026-08-01", "Mcp-Method", "tools/call", "Mcp-Name", "echo"), headerMismatch},
		{"no _meta version", noMeta, h("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/list"), invalidParams},
		{"method differs", call, h("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/list", "Mcp-Name", "echo"), headerMismatch},
		{"no name header", call, h("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/call"), headerMismatch},
		{"name differs", read, h("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "resources/read", "Mcp-Name", "file:///b"), headerMismatch},
	} {
		m, _ := jsonrpc.Scan([]byte(tt.line))
		if code, msg := checkStateless(tt.header, m, m.MetaVersion()); code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, code, msg, tt.code)
		}
	}
}

func TestOrigins(t *testing.T) {
	s := &Sidecar{opts: Options{AllowOrigins: []string{"https://agent.example"}}}
	for origin, want := range map[string]bool{
		"":                      true, // not a browser
		"http://localhost:3000": true,
		"https://127.0.0.1":     true,
		"http://[::1]:8080":     true,
		"https://agent.example": true,
		"https://evil.example":  false,
		"http://localhost.evil": false,
		"null":                  false,
		"file://localhost":      false,
	} {
		if got := s.originAllowed(origin); got != want {
			t.Errorf("%q: %v", origin, got)
		}
	}
}

func TestAccepts(t *testing.T) {
	for _, tt := range []struct {
		header      []string
		json, event bool
	}{
		{[]string{"application/json, text/event-stream"}, true, true},
		{[]string{"application/json", "text/event-stream;q=0.9"}, true, true},
		{[]string{"*/*"}, true, true},
		{[]string{"application/json"}, true, false},
		{nil, false, false},
	} {
		if j, e := accepts(tt.header); j != tt.json || e != tt.event {
			t.Errorf("%q: %v %v", tt.header, j, e)
		}
	}
}
