package mcpconfig

import (
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
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e.Key())
			inArray = e.Kind == unstable.ArrayTable
		case unstable.KeyValue:
			if !inArray {
				values = f.tomlValues(values, &p, slices.Clone(table), e, false)
			}
		}
	}
	if err := p.Error(); err != nil {
		return f.tomlError(err)
	}
	byName := map[string]*Server{}
	for _, v := range values {
		if len(v.key) < 3 || v.key[0] != "mcp_servers" {
			continue
		}
		name := v.key[1]
		srv := byName[name]
		if srv == nil {
			srv = &Server{Name: name, Location: join("mcp_servers", name), argsValid: true}
			byName[name] = srv
			f.Servers = append(f.Servers, srv)
		}
		f.tomlField(srv, v)
	}
	return nil
}

// tomlValues appends the values of a key/value expression, descending into
// inline tables.
func (f *File) tomlValues(out []tomlValue, p *unstable.Parser, prefix []string, kv *unstable.Node, inline bool) []tomlValue {
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
	v := kv.Value()
	if v.Kind == unstable.InlineTable {
		children := v.Children()
		for children.Next() {
			out = f.tomlValues(out, p, slices.Clone(key), children.Node(), true)
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
	}
	if v.Kind == unstable.Array {
		elems := v.Children()
		for elems.Next() {
			tv.elems = append(tv.elems, scalar(elems.Node()))
		}
	}
	return append(out, tv)
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
		if v.kind != unstable.Array {
			srv.argsValid = false
			return
		}
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

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}
