package mcpconfig

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/tailscale/hujson"
)

// parseJSON finds the servers of every JSON client format: mcpServers
// (Claude Desktop, Claude Code, Cursor, Windsurf, Gemini CLI), servers
// (VS Code's mcp.json), mcp.servers (VS Code's settings.json) and
// projects.PATH.mcpServers (Claude Code's per-project servers).
func (f *File) parseJSON() error {
	v, err := hujson.Parse(f.Data)
	if err != nil {
		return jsonError(err)
	}
	if !f.jsonIs("", &v, '{') {
		return f.shape
	}
	// A settings.json (Gemini CLI's, VS Code's) keeps servers under
	// mcpServers or mcp.servers; a top-level "servers" there is some other
	// program's setting.
	settings := strings.EqualFold(filepath.Base(f.Path), "settings.json")
	for _, m := range v.Value.(*hujson.Object).Members {
		switch name := memberName(m); {
		case name == "mcpServers", name == "servers" && !settings:
			f.jsonServers(name, &m.Value)
		case name == "mcp":
			if f.jsonIs(name, &m.Value, '{') {
				for _, mm := range m.Value.Value.(*hujson.Object).Members {
					if memberName(mm) == "servers" {
						f.jsonServers("mcp.servers", &mm.Value)
					}
				}
			}
		case name == "projects": // Claude Code's own: its shape is not checked, only the servers in it
			projects, ok := m.Value.Value.(*hujson.Object)
			if !ok {
				continue
			}
			for _, p := range projects.Members {
				proj, ok := p.Value.Value.(*hujson.Object)
				if !ok {
					continue
				}
				for _, pm := range proj.Members {
					if memberName(pm) == "mcpServers" {
						f.jsonServers(join(join("projects", memberName(p)), "mcpServers"), &pm.Value)
					}
				}
			}
		}
	}
	return f.shape
}

// jsonIs reports whether v is of the kind ('{', '[', '"'), and records a
// ShapeError if it is the first value that is not.
func (f *File) jsonIs(loc string, v *hujson.Value, kind hujson.Kind) bool {
	got := v.Value.Kind()
	if got == kind {
		return true
	}
	names := map[hujson.Kind]string{'n': "null", 't': "a boolean", 'f': "a boolean", '0': "a number", '"': "a string", '[': "an array", '{': "an object"}
	f.misshapen(v.StartOffset, loc, names[got]+", want "+names[kind])
	return false
}

// jsonError keeps the position of hujson's error and says why in words of
// its own: hujson's message quotes what it could not parse ("invalid
// literal: sk-...").
func jsonError(err error) error {
	e := &SyntaxError{Reason: "not valid JSON"}
	if _, serr := fmt.Sscanf(err.Error(), "hujson: line %d, column %d:", &e.Line, &e.Column); serr != nil {
		e.Line, e.Column = 1, 1
	}
	msg := err.Error()
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Reason = "unexpected end of input"
	case strings.Contains(msg, "invalid literal"):
		e.Reason = "invalid literal (a string without quotes?)"
	case strings.Contains(msg, "after object value"):
		e.Reason = `expected "," or "}" after an object value`
	case strings.Contains(msg, "after array value"):
		e.Reason = `expected "," or "]" after an array value`
	case strings.Contains(msg, "after object name"):
		e.Reason = `expected ":" after an object key`
	case strings.Contains(msg, "invalid character"):
		e.Reason = "invalid character"
	}
	return e
}

func memberName(m hujson.ObjectMember) string {
	if lit, ok := m.Name.Value.(hujson.Literal); ok {
		return lit.String()
	}
	return ""
}

func (f *File) jsonServers(loc string, v *hujson.Value) {
	f.Lists = true
	if !f.jsonIs(loc, v, '{') {
		return
	}
	for _, m := range v.Value.(*hujson.Object).Members {
		name := memberName(m)
		srv := &Server{Name: name, Location: join(loc, name), argsValid: true}
		if !f.jsonIs(srv.Location, &m.Value, '{') {
			continue
		}
		entry := m.Value.Value.(*hujson.Object)
		for i := range entry.Members {
			em := &entry.Members[i]
			srv.keys = append(srv.keys, key{name: memberName(*em), start: em.Name.StartOffset, end: em.Value.EndOffset})
			f.jsonField(srv, em)
		}
		f.Servers = append(f.Servers, srv)
	}
}

// jsonField reads one key of a server entry. Values of env and headers
// that are not strings (VS Code allows numbers and null) are no secrets
// and not read; every other field has the type all clients require.
func (f *File) jsonField(srv *Server, m *hujson.ObjectMember) {
	key := memberName(*m)
	loc := join(srv.Location, key)
	switch key {
	case "command":
		if s, ok := f.jsonString(loc, &m.Value); ok {
			srv.Command = &s
			// An args key goes after the command, on a line of its own
			// when the command has one.
			srv.command = site{at: m.Value.EndOffset, prefix: ", "}
			if indent, ok := f.indentOf(m.Name.StartOffset); ok && indent != "" {
				srv.command.prefix = ",\n" + indent
			}
		}
	case "args":
		if !f.jsonIs(loc, &m.Value, '[') {
			return
		}
		arr := m.Value.Value.(*hujson.Array)
		a := &arraySite{open: m.Value.StartOffset + 1, empty: len(arr.Elements) == 0}
		if !a.empty {
			first := arr.Elements[0].StartOffset
			if indent, ok := f.indentOf(first); ok && strings.Contains(string(f.Data[a.open:first]), "\n") {
				a.multiline = indent
			}
		}
		srv.args = a
		for i := range arr.Elements {
			if s, ok := f.jsonString(index(loc, i), &arr.Elements[i]); ok {
				srv.Args = append(srv.Args, s)
			}
		}
	case "env", "headers":
		if !f.jsonIs(loc, &m.Value, '{') {
			return
		}
		for _, e := range m.Value.Value.(*hujson.Object).Members {
			name := memberName(e)
			if e.Value.Value.Kind() != '"' {
				continue
			}
			s, _ := f.jsonString(join(loc, name), &e.Value)
			if key == "env" {
				srv.Env = append(srv.Env, Entry{name, s})
			} else {
				srv.Headers = append(srv.Headers, Entry{name, s})
			}
		}
	case "url", "httpUrl", "serverUrl": // Gemini CLI's streamable HTTP, Windsurf's
		if s, ok := f.jsonString(loc, &m.Value); ok {
			srv.URL = &s
			srv.URLKey = key
		}
	case "type":
		if m.Value.Value.Kind() == '"' {
			s, _ := f.jsonString(loc, &m.Value)
			srv.Type = &s
		}
	}
}

// jsonString is the string v, which must be one.
func (f *File) jsonString(loc string, v *hujson.Value) (String, bool) {
	if !f.jsonIs(loc, v, '"') {
		return String{}, false
	}
	return f.str(v.Value.(hujson.Literal).String(), loc, v.StartOffset, v.EndOffset), true
}
