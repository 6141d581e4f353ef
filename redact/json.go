package redact

import (
	"bytes"
	"encoding/binary"
)

// JSON replaces every secret in src, one JSON text (a JSON-RPC message),
// keeping valid JSON valid: a match inside a string is replaced in place; a
// match in a bare token (a number) replaces the token by a quoted marker; a
// match that crosses a string's bounds replaces every string and bare token
// it touches by a quoted marker, keeping the structure (and key order)
// around them. Text that is not valid JSON is redacted as text. Only a text
// that holds a match pays for more than the search.
func (r *Redactor) JSON(dst, src []byte) []byte {
	if r == nil || len(r.pats) == 0 {
		return append(dst, src...)
	}
	from, none := r.quick(src)
	if none {
		return append(dst, src...)
	}
	sc := getScratch()
	defer putScratch(sc, len(src))
	ms := r.find(sc, src, findAll, from)
	if len(ms) == 0 {
		return append(dst, src...)
	}
	// A text whose matches all lie inside strings comes out the same,
	// valid JSON or not: only a match that replaces whole tokens needs
	// the text to be valid.
	n := len(dst)
	dst, inPlace := r.tokens(dst, src, ms)
	if inPlace || validJSON(src) {
		return dst
	}
	return r.replace(dst[:n], src, ms)
}

// tokens appends src to dst with the matches ms replaced as JSON describes,
// and reports whether every match was replaced where it lies, as replace
// would.
func (r *Redactor) tokens(dst, src []byte, ms []match) (out []byte, inPlace bool) {
	inPlace = true
	last := 0
	for i := 0; i < len(src) && len(ms) > 0; {
		c := src[i]
		var te int
		switch {
		case c == '"':
			te = stringEnd(src, i)
		case isBare(c):
			for te = i + 1; te < len(src) && isBare(src[te]); te++ {
			}
		default:
			i++
			continue
		}
		// A match in whitespace and punctuation alone cannot be replaced
		// without breaking the text; none of a value's letters is there.
		for len(ms) > 0 && ms[0].e <= i {
			ms = ms[1:]
			inPlace = false
		}
		k, inside := 0, c == '"'
		for ; k < len(ms) && ms[k].s < te; k++ {
			inside = inside && ms[k].s > i && ms[k].e < te
		}
		if k > 0 {
			dst = append(dst, src[last:i]...)
			if inside {
				pos := i
				for _, m := range ms[:k] {
					dst = append(dst, src[pos:m.s]...)
					dst = append(dst, r.markers[m.name]...)
					pos = m.e
				}
				dst = append(dst, src[pos:te]...)
			} else {
				dst = append(dst, '"')
				dst = append(dst, r.markers[ms[0].name]...)
				dst = append(dst, '"')
				inPlace = false
			}
			last = te
			if ms[k-1].e > te { // it goes on into the next token
				k--
			}
			ms = ms[k:]
		}
		i = te
	}
	return append(dst, src[last:]...), inPlace && len(ms) == 0
}

// stringEnd returns the index after the string that begins at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; ; {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return len(b)
		}
		q += j
		if !escapes(b[:q], q-1) {
			return q + 1
		}
		j = q + 1
	}
}

// isBare reports whether c belongs to a number or a literal.
func isBare(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '+' || c == '-'
}

// maxNest is encoding/json's limit on nesting, which validJSON shares.
const maxNest = 10000

// validJSON is json.Valid, several times faster: strings, the bulk of a
// tool result, are skipped eight bytes at a time.
func validJSON(b []byte) bool {
	var stack [maxNest/64 + 1]uint64 // a bit per open container: 1 object, 0 array
	depth := 0
	i := skipSpace(b, 0)
	var ok bool
value:
	for {
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == maxNest {
				return false
			}
			if c == '{' {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']'
				depth--
				i++
				break
			}
			if c == '{' {
				if i, ok = member(b, i); !ok {
					return false
				}
			}
			continue value
		case '"':
			if i = validString(b, i); i < 0 {
				return false
			}
		case 't':
			if i = literal(b, i, "true"); i < 0 {
				return false
			}
		case 'f':
			if i = literal(b, i, "false"); i < 0 {
				return false
			}
		case 'n':
			if i = literal(b, i, "null"); i < 0 {
				return false
			}
		default:
			if i = number(b, i); i < 0 {
				return false
			}
		}
		// A value ended: close containers, or go on after a comma.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			obj := stack[(depth-1)/64]>>((depth-1)%64)&1 == 1
			switch {
			case b[i] == ',':
				i = skipSpace(b, i+1)
				if obj {
					if i, ok = member(b, i); !ok {
						return false
					}
				}
				continue value
			case obj && b[i] == '}' || !obj && b[i] == ']':
				depth--
				i++
			default:
				return false
			}
		}
	}
}

// member reads `"key" :` at i and returns where the value begins.
func member(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	if i = validString(b, i); i < 0 {
		return 0, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return skipSpace(b, i+1), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func literal(b []byte, i int, lit string) int {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return -1
	}
	return i + len(lit)
}

// number returns the end of the number at b[i], or -1.
func number(b []byte, i int) int {
	digits := func(i int) int {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i + 1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(i + 1); j > i+1 {
			i = j
		} else {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if j := digits(i); j > i {
			i = j
		} else {
			return -1
		}
	}
	return i
}

// validString returns the end of the string at b[i], or -1. It moves from
// backslash to backslash with IndexByte, and checks the bytes between for
// control characters eight at a time.
func validString(b []byte, i int) int {
	q := -1 // the next quote, which ends the string unless escaped
	for j := i + 1; ; {
		if q < j {
			if q = bytes.IndexByte(b[j:], '"'); q < 0 {
				return -1
			}
			q += j
		}
		end := q
		if k := bytes.IndexByte(b[j:q], '\\'); k >= 0 {
			end = j + k
		}
		if hasControl(b[j:end]) {
			return -1
		}
		if end == q {
			return q + 1
		}
		if end+1 >= len(b) {
			return -1
		}
		switch b[end+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j = end + 2
		case 'u':
			if _, ok := hex4(b, end+2); !ok {
				return -1
			}
			j = end + 6
		default:
			return -1
		}
	}
}

// hasControl reports whether b holds a byte below 0x20, which a JSON string
// may not: 16 bytes at a time, a byte below 0x20 sets its high bit in
// x-0x20 while its own is clear.
func hasControl(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+16 <= len(b); i += 16 {
		x, y := binary.LittleEndian.Uint64(b[i:]), binary.LittleEndian.Uint64(b[i+8:])
		if ((x-ones*0x20)&^x|(y-ones*0x20)&^y)&highs != 0 {
			return true
		}
	}
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if (x-ones*0x20)&^x&highs != 0 {
			return true
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 {
			return true
		}
	}
	return false
}
