package mcpconfig

import (
	"bytes"
	"errors"
	"slices"

	"github.com/pelletier/go-toml/v2/unstable"
)

// tomlValue is a value of Codex's config with its full key, taken out of
// the parser's nodes (which the next expression reuses).
type tomlValue struct {
	key    []string
	kind   unstable.Kind
	str    tomlStr   // a String
	elems  []tomlStr // an Array's elements
	inline bool      // inside an inline table
	head   string    // the text of a dotted key before its last part ("github.")
	keyEnd int       // offset after the key's last part
	table  []string  // the table it is in
	expr   int       // offset of the key of the expression it is in (an inline table's, for its values)
}

// tomlStr is a scalar: its kind, value and literal.
type tomlStr struct {
	kind       unstable.Kind
	value      string
	start, end int
}

func scalar(n *unstable.Node) tomlStr {
	return tomlStr{kind: n.Kind, value: string(n.Data), start: int(n.Raw.Offset), end: int(n.Raw.Offset + n.Raw.Length)}
}

// parseTOML finds Codex's servers: the tables mcp_servers.NAME, however
// they are written ([mcp_servers.NAME], [mcp_servers] with inline tables
// or dotted keys, [mcp_servers.NAME.env]).
func (f *File) parseTOML() error {
	p := unstable.Parser{}
	p.Reset(f.Data)
	var table []string
	inArray := false // in an [[array.table]]: no server is there
	var values []tomlValue
	headers := map[string][]key{} // a server's subtables' headers ([mcp_servers.NAME.env])
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e.Key())
			inArray = e.Kind == unstable.ArrayTable
			f.Lists = f.Lists || table[0] == "mcp_servers"
			kind := unstable.InlineTable // what tomlIs calls every table
			if inArray {
				kind = unstable.ArrayTable
			}
			off := keyOffset(e.Key())
			f.tomlIs(table, kind, off)
			if len(table) == 3 && table[0] == "mcp_servers" {
				start := bytes.LastIndexByte(f.Data[:off], '[')
				headers[table[1]] = append(headers[table[1]], f.lineKey(table[2], start, off))
			}
		case unstable.KeyValue:
			if !inArray {
				values = f.tomlValues(values, table, slices.Clone(table), e, -1)
			}
		}
	}
	if err := p.Error(); err != nil {
		return f.tomlError(err)
	}
	byName := map[string]*Server{}
	for _, v := range values {
		f.Lists = f.Lists || len(v.key) > 0 && v.key[0] == "mcp_servers"
		if !f.tomlIs(v.key, v.kind, v.str.start) || len(v.key) < 3 || v.key[0] != "mcp_servers" {
			continue
		}
		name := v.key[1]
		srv := byName[name]
		if srv == nil {
			srv = &Server{Name: name, Location: join("mcp_servers", name), argsValid: true, keys: headers[name]}
			byName[name] = srv
			f.Servers = append(f.Servers, srv)
		}
		k := f.lineKey(v.key[2], v.expr, v.str.end)
		// The line can go only if its expression is this server's key,
		// not the whole server's inline table or a dotted key above it.
		k.line = k.line && len(v.table) >= 2 && v.table[0] == "mcp_servers" && v.table[1] == name
		srv.keys = append(srv.keys, k)
		f.tomlField(srv, v)
	}
	return f.shape
}

// lineKey is the key name from start to end, and whether the lines it
// is on are its own: TOML puts each expression on a line of its own, so
// one that starts its line has it, but for a comment, to the end of the
// line its value ends on.
func (f *File) lineKey(name string, start, end int) key {
	_, line := f.indentOf(start)
	return key{name: name, start: start, end: max(start, end), line: line}
}

// tomlValues appends the values of a key/value expression, descending into
// inline tables.
// table is the table the expression is in; expr is the offset of its key
// (-1: kv is the expression).
func (f *File) tomlValues(out []tomlValue, table []string, prefix []string, kv *unstable.Node, expr int) []tomlValue {
	it := kv.Key()
	var first, last *unstable.Node
	key := prefix
	for it.Next() {
		n := it.Node()
		if first == nil {
			first = n
		}
		last = n
		key = append(key, string(n.Data))
	}
	inline := expr >= 0
	if !inline {
		expr = int(first.Raw.Offset)
	}
	v := kv.Value()
	if v.Kind == unstable.InlineTable {
		children := v.Children()
		for children.Next() {
			out = f.tomlValues(out, table, slices.Clone(key), children.Node(), expr)
		}
		return out
	}
	tv := tomlValue{
		key:    key,
		kind:   v.Kind,
		str:    scalar(v),
		inline: inline,
		head:   string(f.Data[first.Raw.Offset:last.Raw.Offset]),
		keyEnd: int(last.Raw.Offset + last.Raw.Length),
		table:  table,
		expr:   expr,
	}
	if v.Kind == unstable.Array {
		elems := v.Children()
		for elems.Next() {
			e := scalar(elems.Node())
			tv.elems = append(tv.elems, e)
			tv.str.end = max(tv.str.end, e.end)
		}
	}
	return append(out, tv)
}

// tomlWant is the kind the part of a key under mcp_servers at depth must
// have: mcp_servers and each server are tables, a server's command and url
// strings, args an array, env and http_headers tables (whose values, if
// not strings, are not read). A table, by header or inline, is
// InlineTable here; false: anything goes.
func tomlWant(key []string, depth int) (unstable.Kind, bool) {
	if depth < 2 {
		return unstable.InlineTable, true
	}
	switch key[2] {
	case "command", "url":
		return unstable.String, true
	case "args":
		return unstable.Array, true
	case "env", "http_headers":
		return unstable.InlineTable, true
	}
	return 0, false
}

// tomlIs reports whether key may hold a value of kind, and records a
// ShapeError at offset off if it is the first that may not. Every part of
// the key is checked: one with more key below it is a table.
func (f *File) tomlIs(key []string, kind unstable.Kind, off int) bool {
	if len(key) == 0 || key[0] != "mcp_servers" {
		return true
	}
	for depth := range min(len(key), 3) {
		want, ok := tomlWant(key, depth)
		if !ok {
			return true
		}
		got := kind
		if depth < len(key)-1 {
			got = unstable.InlineTable
		}
		if got != want {
			loc := ""
			for _, k := range key[:depth+1] {
				loc = join(loc, k)
			}
			f.misshapen(off, loc, tomlKind(got)+", want "+tomlKind(want))
			return false
		}
	}
	return true
}

// tomlKind names a kind of value.
func tomlKind(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.ArrayTable:
		return "an array of tables"
	case unstable.Bool:
		return "a boolean"
	case unstable.Integer, unstable.Float:
		return "a number"
	}
	return "a date or time"
}

func (f *File) tomlField(srv *Server, v tomlValue) {
	loc := srv.Location
	for _, k := range v.key[2:] {
		loc = join(loc, k)
	}
	field := v.key[2]
	switch {
	case field == "command" && len(v.key) == 3:
		if s, ok := f.tomlString(loc, v.str); ok {
			srv.Command = &s
			srv.command = site{at: s.end, prefix: "\n" + v.head}
			if v.inline {
				srv.command.prefix = ", "
			}
		}
	case field == "args" && len(v.key) == 3:
		a := &arraySite{open: f.bracketAfter(v.keyEnd), empty: len(v.elems) == 0}
		srv.args = a
		if !a.empty {
			if indent, ok := f.indentOf(v.elems[0].start); ok && indent != "" {
				a.multiline = indent
			}
		}
		for i, e := range v.elems {
			if s, ok := f.tomlString(index(loc, i), e); ok {
				srv.Args = append(srv.Args, s)
			} else {
				f.misshapen(e.start, index(loc, i), tomlKind(e.kind)+", want a string")
			}
		}
		if a.open < 0 {
			srv.argsValid = false
		}
	case (field == "env" || field == "http_headers") && len(v.key) == 4:
		if s, ok := f.tomlString(loc, v.str); ok {
			if field == "env" {
				srv.Env = append(srv.Env, Entry{v.key[3], s})
			} else {
				srv.Headers = append(srv.Headers, Entry{v.key[3], s})
			}
		}
	case field == "url" && len(v.key) == 3:
		if s, ok := f.tomlString(loc, v.str); ok {
			srv.URL = &s
			srv.URLKey = field
		}
	}
}

// bracketAfter is the offset after the "[" that follows a key and its
// "=": only blanks may come between them in TOML. -1 if it is not there.
func (f *File) bracketAfter(off int) int {
	for i := off; i < len(f.Data); i++ {
		switch f.Data[i] {
		case ' ', '\t', '=':
		case '[':
			return i + 1
		default:
			return -1
		}
	}
	return -1
}

func (f *File) tomlString(loc string, s tomlStr) (String, bool) {
	if s.kind != unstable.String {
		return String{}, false
	}
	return f.str(s.value, loc, s.start, s.end), true
}

// tomlError places a parse error by the part of the input it highlights.
// The parser's message may quote the input, so the reason is generic.
func (f *File) tomlError(err error) error {
	off := len(f.Data)
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		// Highlight is a subslice of Data: its offset is the difference of
		// their capacities.
		if o := cap(f.Data) - cap(pe.Highlight); pe.Highlight != nil && o >= 0 && o <= len(f.Data) {
			off = o
		}
	}
	line, col := f.position(off)
	return &SyntaxError{Line: line, Column: col, Reason: "not valid TOML"}
}

// keyOffset is where a table header's key starts.
func keyOffset(it unstable.Iterator) int {
	if it.Next() {
		return int(it.Node().Raw.Offset)
	}
	return 0
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}
