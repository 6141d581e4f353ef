// Package mcpconfig reads the MCP server entries of client config files
// (JSON and JSONC: Claude Desktop, Claude Code, Cursor, VS Code, Windsurf,
// Gemini CLI; TOML: Codex), with where each value is in the file, and
// edits them in place: every edit is a splice of the original bytes, so
// everything it does not change (key order, other servers, unknown keys,
// comments, formatting) stays byte for byte.
package mcpconfig

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Format is a config file's syntax.
type Format int

const (
	JSON Format = iota // JSON, or JSONC (comments, trailing commas)
	TOML               // Codex's config.toml
)

// formatOf tells a config's format from its name.
func formatOf(path string) Format {
	if strings.EqualFold(filepath.Ext(path), ".toml") {
		return TOML
	}
	return JSON
}

// File is a parsed config.
type File struct {
	Path    string
	Format  Format
	Data    []byte
	Servers []*Server
	// Lists says the file has a list of servers (mcpServers, servers,
	// mcp.servers, mcp_servers), if an empty one: a file whose name other
	// programs use too (settings.json, config.toml) is an MCP config only
	// then.
	Lists bool
	lines []int // offset of each line's start
	shape error // the first ShapeError
}

// Server is one MCP server entry.
type Server struct {
	Name     string
	Location string // of the entry: mcpServers.github
	Command  *String
	Args     []String
	Env      []Entry
	Headers  []Entry
	URL      *String

	// Type is the entry's "type" (JSON: stdio, http, sse, ...); nil if it
	// has none.
	Type *String
	// URLKey is the key URL is under: url, httpUrl (Gemini CLI) or
	// serverUrl (Windsurf).
	URLKey string

	args      *arraySite // nil: no args key
	argsValid bool       // args, when present, is an array
	command   site       // where an args key goes when there is none
	keys      []key      // every key of the entry, in the file's order
}

// key is one key of a server entry and its value: Data[start:end]. In
// TOML a key has one such span per line it is on (a subtable's header and
// each of its keys); line says the span is all its line holds but blanks
// and a comment, so the line can go.
type key struct {
	name       string
	start, end int
	line       bool
}

// String is one string value and where it is.
type String struct {
	Value    string
	Location string // mcpServers.github.env.GITHUB_TOKEN, servers.x.args[2]
	Line     int
	start    int // the literal, quotes included: Data[start:end]
	end      int
}

// Entry is a named string: an environment variable or a header.
type Entry struct {
	Name string
	String
}

// arraySite is where elements go at the start of an array.
type arraySite struct {
	open      int    // offset just after "["
	empty     bool   // no elements
	multiline string // the first element's indentation when it starts a line
}

// site is where a new key goes after the command.
type site struct {
	at     int    // offset after the command's value
	prefix string // text before the new key: ", " or ",\n    " (JSON), ", " or "\n" plus a dotted key's head (TOML)
}

// SyntaxError is a config that does not parse. It gives the position and a
// reason of its own words, never the parser's message, which may quote the
// file (and so a secret).
type SyntaxError struct {
	Line, Column int
	Reason       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Reason)
}

func (e *SyntaxError) Unwrap() error { return providers.ErrMalformed }

// ShapeError is a config that parses but whose servers are not of the
// shape clients read: a server list or a server that is not an object
// (table), a command that is not a string, args that are not an array of
// strings. Only the parts that hold servers are checked: a client's other
// settings are its own.
type ShapeError struct {
	Line     int
	Location string // mcpServers.github.args; "" for the whole file
	Reason   string // "null, want an object"
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("line %d: %s: %s", e.Line, cmp.Or(e.Location, "the top level"), e.Reason)
}

func (e *ShapeError) Unwrap() error { return providers.ErrMalformed }

// misshapen records the first ShapeError, at offset off.
func (f *File) misshapen(off int, loc, reason string) {
	if f.shape == nil {
		line, _ := f.position(off)
		f.shape = &ShapeError{Line: line, Location: loc, Reason: reason}
	}
}

// Parse reads the servers of a config. A file that does not parse is a
// *SyntaxError; one whose servers are misshapen a *ShapeError.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path, Format: formatOf(path), Data: data, lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			f.lines = append(f.lines, i+1)
		}
	}
	var err error
	if f.Format == TOML {
		err = f.parseTOML()
	} else {
		err = f.parseJSON()
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// position is the 1-based line and column (in bytes) of an offset.
func (f *File) position(off int) (line, col int) {
	i := sort.SearchInts(f.lines, off+1) - 1
	return i + 1, off - f.lines[i] + 1
}

func (f *File) str(value, loc string, start, end int) String {
	line, _ := f.position(start)
	return String{Value: value, Location: loc, Line: line, start: start, end: end}
}

// indentOf is the whitespace that starts the line holding off, if only
// whitespace comes before off on that line.
func (f *File) indentOf(off int) (string, bool) {
	line, _ := f.position(off)
	head := string(f.Data[f.lines[line-1]:off])
	return head, strings.TrimLeft(head, " \t") == ""
}

// Splice replaces Data[Start:End] by Text.
type Splice struct {
	Start, End int
	Text       string
}

// Apply makes the edited file. The splices must not overlap; an insertion
// (Start == End) goes before a replacement that starts at the same place
// (arguments put before a first argument that changes too).
func Apply(data []byte, splices []Splice) []byte {
	s := slices.Clone(splices)
	slices.SortStableFunc(s, func(a, b Splice) int { return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End)) })
	var out []byte
	at := 0
	for _, sp := range s {
		out = append(out, data[at:sp.Start]...)
		out = append(out, sp.Text...)
		at = sp.End
	}
	return append(out, data[at:]...)
}

// Set is the splice that makes s hold v.
func (f *File) Set(s String, v string) Splice {
	return Splice{Start: s.start, End: s.end, Text: f.literal(v)}
}

// Prepend is the splice that puts args before the server's arguments (and
// adds an args key after the command when there is none).
func (f *File) Prepend(srv *Server, args []string) (Splice, error) {
	if !srv.argsValid {
		return Splice{}, fmt.Errorf("%s.args is not an array", srv.Location)
	}
	lits := make([]string, len(args))
	for i, a := range args {
		lits[i] = f.literal(a)
	}
	if srv.args == nil {
		if srv.Command == nil {
			return Splice{}, fmt.Errorf("%s has no command", srv.Location)
		}
		key := `"args": `
		if f.Format == TOML {
			key = "args = "
		}
		return Splice{Start: srv.command.at, End: srv.command.at, Text: srv.command.prefix + key + "[" + strings.Join(lits, ", ") + "]"}, nil
	}
	a := srv.args
	var text string
	switch {
	case a.empty:
		text = strings.Join(lits, ", ")
	case a.multiline != "":
		for _, l := range lits {
			text += "\n" + a.multiline + l + ","
		}
	default:
		text = strings.Join(lits, ", ") + ", "
	}
	return Splice{Start: a.open, End: a.open, Text: text}, nil
}

// literal is v as a string literal of the file's syntax.
func (f *File) literal(v string) string {
	if f.Format == TOML {
		return tomlString(v)
	}
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false) // "$<aws:...>", not "$\u003caws:...\u003e"
	_ = e.Encode(v)        // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// tomlString is v as a TOML basic string.
func tomlString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// join adds a key to a location: .name, or ["name"] for names that are
// not plain words.
func join(loc, key string) string {
	plain := key != ""
	for _, c := range key {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			plain = false
			break
		}
	}
	if !plain {
		b, _ := json.Marshal(key)
		return loc + "[" + string(b) + "]"
	}
	if loc == "" {
		return key
	}
	return loc + "." + key
}

func index(loc string, i int) string { return fmt.Sprintf("%s[%d]", loc, i) }
