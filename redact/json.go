package redact

// JSON replaces every secret in src, one JSON text (a JSON-RPC message),
// keeping it valid JSON: a match inside a string is replaced in place; a
// match outside strings (a number) replaces its whole token by a quoted
// marker; a match that splits an escape sequence or crosses a string's end
// is not the secret (the decoded text differs there) and is left alone.
func (r *Redactor) JSON(dst, src []byte) []byte {
	if r == nil || len(r.pats) == 0 {
		return append(dst, src...)
	}
	var lx lexer
	last := 0
	for from := 0; ; {
		s, p := r.next(src, from)
		if s < 0 {
			break
		}
		e := s + len(r.pats[p].b)
		lx.advance(src, s)
		startIn, startEsc := lx.inString, lx.esc
		at := lx // the state at s, to scan [s, e) without losing it
		at.advance(src, e)
		switch {
		case startEsc == 0 && at.esc == 0 && startIn && at.inString && at.closed == lx.closed:
			dst = append(dst, src[last:s]...)
			dst = append(dst, r.pats[p].repl...)
			last, from = e, e
			lx = at
		case !startIn && !at.inString && at.closed == lx.closed && at.opened == lx.opened:
			ts, te := tokenBounds(src, s, e)
			if ts < last {
				from = s + 1
				continue
			}
			dst = append(dst, src[last:ts]...)
			dst = append(dst, '"')
			dst = append(dst, r.pats[p].repl...)
			dst = append(dst, '"')
			last, from = te, te
			lx.advance(src, te)
		default:
			from = s + 1
		}
	}
	return append(dst, src[last:]...)
}

// lexer tracks, over a JSON text, whether a position is inside a string and
// inside an escape sequence. It only moves forward.
type lexer struct {
	pos      int
	inString bool
	esc      int // bytes of the current escape sequence still to come
	opened   int // strings opened so far
	closed   int // strings closed so far
}

func (l *lexer) advance(b []byte, to int) {
	for ; l.pos < to; l.pos++ {
		c := b[l.pos]
		switch {
		case l.esc > 0:
			l.esc--
			if c == 'u' && l.esc == 0 && b[l.pos-1] == '\\' {
				l.esc = 4
			}
		case !l.inString:
			if c == '"' {
				l.inString = true
				l.opened++
			}
		case c == '\\':
			l.esc = 1
		case c == '"':
			l.inString = false
			l.closed++
		}
	}
}

// tokenBounds widens [s, e) to the whole bare token (number or literal)
// around it.
func tokenBounds(b []byte, s, e int) (int, int) {
	bare := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '+' || c == '-'
	}
	for s > 0 && bare(b[s-1]) {
		s--
	}
	for e < len(b) && bare(b[e]) {
		e++
	}
	return s, e
}
