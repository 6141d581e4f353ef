package injector

import (
	"bytes"
	"errors"
)

// message is what the launcher needs of a JSON-RPC message: its kind, id
// and method, with the byte spans of the id and params in the line. It is
// found by scanning the top-level object only, skipping values, so a
// megabyte tool result costs a pass of bytes.IndexByte, not a decode.
type message struct {
	id       []byte // raw JSON, nil if absent
	idStart  int
	idEnd    int
	method   string
	params   []byte // raw JSON, nil if absent
	result   []byte // raw JSON, nil if absent
	hasError bool
}

func (m message) isRequest() bool      { return m.method != "" && m.id != nil }
func (m message) isNotification() bool { return m.method != "" && m.id == nil }
func (m message) isResponse() bool {
	return m.method == "" && m.id != nil && (m.result != nil || m.hasError)
}

var errNotObject = errors.New("not a JSON object")

// scanMessage reads the top-level members of one JSON text.
func scanMessage(b []byte) (message, error) {
	var m message
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return m, errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return m, errNotObject
		}
		kEnd, err := skipString(b, i)
		if err != nil {
			return m, err
		}
		key := b[i+1 : kEnd-1]
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return m, errNotObject
		}
		vStart := skipSpace(b, i+1)
		vEnd, err := skipValue(b, vStart)
		if err != nil {
			return m, err
		}
		switch string(key) {
		case "id":
			m.id, m.idStart, m.idEnd = b[vStart:vEnd], vStart, vEnd
		case "method":
			if b[vStart] == '"' {
				m.method = string(b[vStart+1 : vEnd-1])
			}
		case "params":
			m.params = b[vStart:vEnd]
		case "result":
			m.result = b[vStart:vEnd]
		case "error":
			m.hasError = true
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return m, errNotObject
		}
		if b[i] == '}' {
			return m, nil
		}
		if b[i] != ',' {
			return m, errNotObject
		}
		i = skipSpace(b, i+1)
	}
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
			return 0, errNotObject
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
		return 0, errNotObject
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
		return 0, errNotObject
	}
	j := i
	for j < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[j])) {
		j++
	}
	if j == i {
		return 0, errNotObject
	}
	return j, nil
}
