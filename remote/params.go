package remote

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
)

// paramBinding is a tool argument that protocol 2026-07-28 mirrors in a
// header beside the request (the x-mcp-header of its input schema): a
// server checks the header against the body and refuses the call without
// it. A stdio client sends no headers, so the bridge learns the bindings
// from the tools/list replies it relays.
type paramBinding struct {
	path   []string // of the argument in arguments
	header string   // after Mcp-Param-
}

// maxTools bounds the tools whose bindings are kept.
const maxTools = 4096

// schema is what the bindings need of a JSON schema.
type schema struct {
	Type       string            `json:"type"`
	Header     json.RawMessage   `json:"x-mcp-header"`
	Properties map[string]schema `json:"properties"`
}

// learnTools keeps the bindings of the tools of a tools/list result.
func (s *session) learnTools(result []byte) {
	var r struct {
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &r) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range r.Tools {
		b := bindings(t.InputSchema)
		switch {
		case len(b) == 0:
			delete(s.tools, t.Name)
		case len(s.tools) < maxTools || s.tools[t.Name] != nil:
			s.tools[t.Name] = b
		}
	}
}

// bindings are the x-mcp-header annotations of an input schema, at any
// depth, on primitive properties.
func bindings(raw json.RawMessage) []paramBinding {
	var root schema
	if json.Unmarshal(raw, &root) != nil {
		return nil
	}
	var out []paramBinding
	var walk func(props map[string]schema, prefix []string)
	walk = func(props map[string]schema, prefix []string) {
		for name, p := range props {
			path := append(slices.Clip(prefix), name)
			var h string
			if json.Unmarshal(p.Header, &h) == nil && validName(h) && (p.Type == "string" || p.Type == "integer" || p.Type == "boolean") {
				out = append(out, paramBinding{path: path, header: h})
			}
			walk(p.Properties, path)
		}
	}
	walk(root.Properties, nil)
	return out
}

// paramHeaders are the Mcp-Param- headers of a tools/call. Call it with
// s.mu held.
func (s *session) paramHeaders(m jsonrpc.Message) map[string]string {
	if m.Method != "tools/call" {
		return nil
	}
	_, name, _ := m.MCPName()
	bs := s.tools[name]
	start, end, ok := jsonrpc.Find(m.Params, "arguments")
	if len(bs) == 0 || !ok {
		return nil
	}
	args := m.Params[start:end]
	out := map[string]string{}
	for _, b := range bs {
		if s, e, ok := jsonrpc.Find(args, b.path...); ok {
			if v, ok := headerValue(args[s:e]); ok {
				out[paramPrefix+b.header] = v
			}
		}
	}
	return out
}

// headerValue is an argument as its header carries it (SEP-2243): a plain
// ASCII string as it is, any other in "=?base64?…?="; an integer in
// decimal; a boolean as true or false. Other values have no header.
func headerValue(raw []byte) (string, bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		if plainHeader(v) {
			return v, true
		}
		return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?=", true
	case bool:
		return strconv.FormatBool(v), true
	case json.Number:
		const safe = 1<<53 - 1 // what a JSON number holds exactly
		i, err := v.Int64()
		if err != nil || i > safe || i < -safe {
			return "", false
		}
		return strconv.FormatInt(i, 10), true
	}
	return "", false
}

// plainHeader reports whether a string goes in a header as it is.
func plainHeader(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return !(strings.HasPrefix(s, "=?base64?") && strings.HasSuffix(s, "?="))
}
