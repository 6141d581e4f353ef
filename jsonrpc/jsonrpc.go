// Package jsonrpc reads what a relay needs of newline-delimited JSON-RPC
// messages (MCP's stdio and HTTP bodies) without decoding them: the kind,
// id and method, and the byte spans of the id, params and result. It scans
// the top-level object only, skipping values, so a megabyte tool result
// costs a pass of bytes.IndexByte, not a decode; and it can splice a new id
// in, leaving every other byte as it was.
package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Message is one JSON-RPC message as the relay sees it.
type Message struct {
	ID       []byte // raw JSON, nil if absent
	IDStart  int
	IDEnd    int
	Method   string
	Params   []byte // raw JSON, nil if absent
	Result   []byte // raw JSON, nil if absent
	HasError bool
}

// VersionMeta is the _meta key in which MCP requests carry their protocol
// version (2026-07-28 and later).
const VersionMeta = "io.modelcontextprotocol/protocolVersion"

// MetaVersion is the protocol version m carries in its _meta, "" if none.
func (m Message) MetaVersion() string {
	start, end, ok := Find(m.Params, "_meta", VersionMeta)
	if !ok {
		return ""
	}
	var v string
	_ = json.Unmarshal(m.Params[start:end], &v)
	return v
}

// MCPName is what MCP's Mcp-Name header carries for m (2026-07-28): key is
// the member of params that holds it, "name" of a tool or prompt, "uri" of
// a resource, and "" for a method without one; ok says that params hold it
// as a string.
func (m Message) MCPName() (key, name string, ok bool) {
	switch m.Method {
	case "tools/call", "prompts/get":
		key = "name"
	case "resources/read":
		key = "uri"
	default:
		return "", "", false
	}
	if start, end, found := Find(m.Params, key); found {
		ok = json.Unmarshal(m.Params[start:end], &name) == nil
	}
	return key, name, ok
}

func (m Message) IsRequest() bool      { return m.Method != "" && m.ID != nil }
func (m Message) IsNotification() bool { return m.Method != "" && m.ID == nil }
func (m Message) IsResponse() bool {
	return m.Method == "" && m.ID != nil && (m.Result != nil || m.HasError)
}

// ErrNotObject is a message that is not a JSON object.
var ErrNotObject = errors.New("not a JSON object")

// Scan reads the top-level members of one message.
func Scan(b []byte) (Message, error) {
	var m Message
	err := Members(b, func(key []byte, start, end int) {
		switch string(key) {
		case "id":
			m.ID, m.IDStart, m.IDEnd = b[start:end], start, end
		case "method":
			if b[start] == '"' {
				m.Method = string(b[start+1 : end-1])
			}
		case "params":
			m.Params = b[start:end]
		case "result":
			m.Result = b[start:end]
		case "error":
			m.HasError = true
		}
	})
	return m, err
}

// SpliceID returns line with m's id replaced by id.
func SpliceID(line []byte, m Message, id []byte) []byte {
	return Splice(line, m.IDStart, m.IDEnd, id)
}

// Members calls f with the key and value span of each member of the JSON
// object b.
func Members(b []byte, f func(key []byte, start, end int)) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ErrNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return ErrNotObject
		}
		kEnd, err := skipString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : kEnd-1]
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return ErrNotObject
		}
		vStart := skipSpace(b, i+1)
		vEnd, err := skipValue(b, vStart)
		if err != nil {
			return err
		}
		f(key, vStart, vEnd)
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return ErrNotObject
		}
		if b[i] == '}' {
			return nil
		}
		if b[i] != ',' {
			return ErrNotObject
		}
		i = skipSpace(b, i+1)
	}
}

// Find returns the span of the value at path (object keys) in the JSON
// object b, relative to b.
func Find(b []byte, path ...string) (start, end int, ok bool) {
	_ = Members(b, func(key []byte, s, e int) {
		if !ok && string(key) == path[0] {
			start, end, ok = s, e, true
		}
	})
	if !ok || len(path) == 1 {
		return start, end, ok
	}
	s, e, ok := Find(b[start:end], path[1:]...)
	return start + s, start + e, ok
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] ('"').
func skipString(b []byte, i int) (int, error) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, ErrNotObject
		}
		j += k
		// The quote ends the string unless an odd run of backslashes escapes it.
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, nil
		}
		j++
	}
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, ErrNotObject
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); {
			k := bytes.IndexAny(b[j:], `"{}[]`)
			if k < 0 {
				break
			}
			j += k
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end
				continue
			case '{', '[':
				depth++
			default:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
			j++
		}
		return 0, ErrNotObject
	}
	j := i
	for j < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[j])) {
		j++
	}
	if j == i {
		return 0, ErrNotObject
	}
	return j, nil
}

// Splice returns b with the bytes from start to end replaced by v.
func Splice(b []byte, start, end int, v []byte) []byte {
	out := make([]byte, 0, len(b)-(end-start)+len(v))
	out = append(out, b[:start]...)
	out = append(out, v...)
	return append(out, b[end:]...)
}

// IDKey is a request id in one canonical form, for matching a reply to its
// request whatever escapes either side used.
func IDKey(raw []byte) string {
	if len(raw) > 0 && raw[0] == '"' && bytes.IndexByte(raw, '\\') >= 0 {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strconv.Quote(s)
		}
	}
	return string(raw)
}

// ErrorCode is the code of a JSON-RPC error reply, 0 if it has none.
func ErrorCode(line []byte) int {
	var m struct {
		Error struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(line, &m)
	return m.Error.Code
}

// ErrorReply is a JSON-RPC error reply in the relay's own name.
func ErrorReply(id []byte, code int, msg string) []byte {
	if id == nil {
		id = []byte("null")
	}
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      json.RawMessage(id),
		"error":   map[string]any{"code": code, "message": msg},
	})
	return b
}

// LeadingID is the id of the message that b begins, when the id comes before
// the member where b is cut off: the id of a message too long to relay, for
// the error reply that stands in for it. Nil if there is none.
func LeadingID(b []byte) []byte {
	var id []byte
	_ = Members(b, func(key []byte, start, end int) {
		if id == nil && string(key) == "id" && end < len(b) { // a number may go on past b
			id = bytes.Clone(b[start:end])
		}
	})
	return id
}
