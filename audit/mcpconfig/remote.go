package mcpconfig

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// gemini reports whether the entry is Gemini CLI's (mcpServers of a
// settings.json), where "url" means SSE and stdio entries have no type.
func (f *File) gemini(srv *Server) bool {
	return f.Format == JSON && strings.EqualFold(filepath.Base(f.Path), "settings.json") && strings.HasPrefix(srv.Location, "mcpServers")
}

// SSE reports whether a remote entry says its server speaks the HTTP+SSE
// transport of 2024-11-05 rather than Streamable HTTP: type "sse", or
// Gemini CLI's url (its Streamable HTTP key is httpUrl) without type
// "http".
func (f *File) SSE(srv *Server) bool {
	if srv.Type != nil {
		return strings.EqualFold(srv.Type.Value, "sse")
	}
	return f.gemini(srv) && srv.URLKey == "url"
}

// unmovable are remote keys that a stdio entry cannot carry: credentials
// the client fetches or takes from its own environment.
var unmovable = []string{"oauth", "authProviderType", "bearer_token_env_var", "env_http_headers"}

// Stdio is the splices that make a remote entry a stdio entry running
// command with args: its URL key becomes command and args, its headers go
// (args carry them), as do args it had, and its type becomes "stdio"
// (Gemini CLI's is removed: stdio entries there have none). Every other
// key stays.
func (f *File) Stdio(srv *Server, command string, args []string) ([]Splice, error) {
	if srv.URL == nil || srv.Command != nil {
		return nil, fmt.Errorf("%s is not a remote entry", srv.Location)
	}
	// The URL is the last URL key, as clients read a JSON object whose key
	// repeats; every other goes.
	last := -1
	for i, k := range srv.keys {
		if k.name == srv.URLKey {
			last = i
		}
	}
	var keep, cut []key
	var url *key
	for i, k := range srv.keys {
		switch {
		case slices.Contains(unmovable, k.name):
			return nil, fmt.Errorf("%s has %s, which a stdio entry cannot carry", srv.Location, k.name)
		case i == last:
			url = &srv.keys[i]
		case slices.Contains([]string{"url", "httpUrl", "serverUrl", "headers", "http_headers", "args"}, k.name) || k.name == "type" && f.gemini(srv):
			cut = append(cut, k)
			continue
		}
		keep = append(keep, k)
	}
	lits := make([]string, len(args))
	for i, a := range args {
		lits[i] = f.literal(a)
	}
	if f.Format == TOML {
		return f.tomlStdio(srv, url, cut, command, lits)
	}
	// The URL's key and value become command and args, on a line of their
	// own when the URL key has one.
	sep := ", "
	if indent, ok := f.indentOf(url.start); ok {
		sep = ",\n" + indent
	}
	out := []Splice{{Start: url.start, End: url.end, Text: `"command": ` + f.literal(command) + sep + `"args": [` + strings.Join(lits, ", ") + "]"}}
	if srv.Type != nil && !f.gemini(srv) {
		out = append(out, f.Set(*srv.Type, "stdio"))
	}
	// A key that goes takes the separator after it, up to the next key; the
	// last one the separator before it, from the last key that stays.
	for i, k := range srv.keys {
		if !slices.Contains(cut, k) {
			continue
		}
		if i+1 < len(srv.keys) {
			out = append(out, Splice{Start: k.start, End: srv.keys[i+1].start})
			continue
		}
		prev := keep[len(keep)-1]
		for j := i - 1; j >= 0 && slices.Contains(cut, srv.keys[j]); j-- {
			out = out[:len(out)-1] // taken in by this splice
		}
		out = append(out, Splice{Start: prev.end, End: k.end})
	}
	return out, nil
}

// tomlStdio is Stdio for a [mcp_servers.NAME] table: the url line becomes
// command and args lines, the http_headers lines (a key, or a subtable
// and its keys) go. Other layouts (a whole server as an inline table, or
// dotted keys under [mcp_servers]) are refused.
func (f *File) tomlStdio(srv *Server, url *key, cut []key, command string, args []string) ([]Splice, error) {
	for _, k := range append([]key{*url}, cut...) {
		if !k.line {
			return nil, fmt.Errorf("%s: its %s is not on a line of its own in [%s]: rewrite it by hand", srv.Location, k.name, srv.Location)
		}
	}
	indent, _ := f.indentOf(url.start)
	out := []Splice{{Start: url.start, End: url.end, Text: "command = " + f.literal(command) + "\n" + indent + "args = [" + strings.Join(args, ", ") + "]"}}
	gone := map[int]bool{}
	for _, k := range cut {
		line, _ := f.position(k.start)
		last, _ := f.position(k.end)
		start, end := f.lines[line-1], len(f.Data)
		if last < len(f.lines) {
			end = f.lines[last]
		}
		if !gone[start] {
			gone[start] = true
			out = append(out, Splice{Start: start, End: end})
		}
	}
	return out, nil
}
