package redact

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is how a view is decoded from its parent.
type kind uint8

const (
	jsonEsc    kind = iota // JSON string escapes: \n \" \/ \u00e4 \ud83d\ude00 ...
	percent                // %XX, either hex case
	lineBreaks             // CR/LF removed: base64 wrapped at any width
)

// maxDepth is how often JSON escapes are decoded: JSON text inside a JSON
// string inside a JSON string. A level is built only when the one before
// holds an escape that decodes to bytes a match may take, so plain text
// pays nothing for it.
const maxDepth = 3

// A view is its parent's bytes decoded one way. It can hold a match its
// parent does not only around the places where the two differ, and only
// where a match may take the bytes there: wins.
type view struct {
	k      kind
	parent *view // nil: the input itself
	b      []byte
	wins   []win // where to search
	marks  []mark
	esc    bool // b holds a backslash
}

type win struct{ lo, hi int }

// A mark is a place between escapes, every few KiB of a view, where mapping
// a position to the parent can start instead of at the beginning.
type mark struct{ r, v int }

const markEvery = 4 << 10

type match struct {
	s, e int
	name int32
	open bool // ends the view, and the base64 character after it is still to come
}

// quick searches src itself, which is all most text needs: it returns
// where the first match in src begins (len(src): none), and whether no
// decoded view of src can hold one either.
func (r *Redactor) quick(src []byte) (from int, none bool) {
	if s, _ := r.next(src, 0); s >= 0 {
		return s, false
	}
	return len(src), bytes.IndexByte(src, '\\') < 0 && bytes.IndexByte(src, '%') < 0 && !r.junctions(src, findAll)
}

// find returns the matches in src, as sorted, disjoint spans of src that
// never cut an escape sequence; src itself holds none before from. With
// findFirst it stops at the first (its span is then meaningless); with
// findIdle it also sets sc.hold to where a tail that could still become a
// match begins.
func (r *Redactor) find(sc *scratch, src []byte, mode findMode, from int) []match {
	sc.ms = sc.ms[:0]
	sc.hold = len(src)
	sc.rawWin[0] = win{from, len(src)}
	sc.raw = view{b: src, wins: sc.rawWin[:], esc: bytes.IndexByte(src, '\\') >= 0}
	r.level(sc, &sc.raw, 0, mode)
	sc.ms = normalize(sc.ms)
	return sc.ms
}

type findMode uint8

const (
	findAll findMode = iota
	findFirst
	findIdle
)

// level searches v, a JSON level of the input, and the views derived from
// it, then the next JSON level.
func (r *Redactor) level(sc *scratch, v *view, depth int, mode findMode) {
	if mode == findIdle {
		// An unfinished escape at the end is held back, and so is a CR
		// whose LF may follow; the views of this level and the next are
		// built without them, so that their tails end where the text
		// decoded so far ends.
		u := min(partialJSON(v.b), partialPercent(v.b))
		if n := len(v.b); n > 0 && v.b[n-1] == '\r' {
			u = min(u, n-1)
		}
		if u < len(v.b) {
			sc.hold = min(sc.hold, mapPoint(v, u))
			v.b = v.b[:u]
		}
	}
	ms := r.scan(v, sc.list[0][:0])
	if mode != findFirst || len(ms) == 0 {
		ms = r.sides(sc, v, ms, mode)
	}
	if mode == findFirst && len(ms) > 0 {
		sc.ms = append(sc.ms, ms[0])
		return
	}
	ms = normalize(ms)
	if v.esc {
		// A match must not end inside an escape sequence of the level it
		// was found in (\u00e4 is one character): widen it to the whole.
		ms = snap(v.b, ms)
	}
	ms = mapUp(v, ms)
	sc.ms = append(sc.ms, ms...)
	sc.list[0] = ms[:0]
	if mode == findIdle {
		sc.hold = min(sc.hold, r.holdPoint(v))
	}
	if depth < maxDepth && v.esc && (mode == findIdle || r.jsonMatters(v.b)) {
		c := &sc.chain[depth]
		if r.build(c, jsonEsc, v, mode == findIdle) > 0 {
			r.level(sc, c, depth+1, mode)
		}
	}
}

// sides searches v percent-decoded, v without line breaks, and v
// percent-decoded without line breaks, appending what they find, mapped to
// v, to ms.
func (r *Redactor) sides(sc *scratch, v *view, ms []match, mode findMode) []match {
	every := mode == findIdle
	if bytes.IndexByte(v.b, '%') >= 0 && (every || r.percentMatters(v.b)) {
		p := &sc.side[0]
		if r.build(p, percent, v, every) > 0 {
			pm := r.scan(p, sc.list[1][:0])
			if r.junctions(p.b, mode) {
				pm = append(pm, r.unwrapped(sc, p, mode)...)
			}
			if mode == findIdle {
				sc.hold = min(sc.hold, r.holdPoint(p))
			}
			pm = normalize(pm)
			mapStep(p, pm)
			ms = append(ms, pm...)
			sc.list[1] = pm[:0]
		}
	}
	if r.junctions(v.b, mode) {
		ms = append(ms, r.unwrapped(sc, v, mode)...)
	}
	return ms
}

// unwrapped finds the matches in v with its line breaks taken out (a value
// wrapped over lines), mapped back to v. The result is valid until the next
// call: the caller copies it.
func (r *Redactor) unwrapped(sc *scratch, v *view, mode findMode) []match {
	s := &sc.side[1]
	r.build(s, lineBreaks, v, mode == findIdle)
	sm := normalize(r.scan(s, sc.list[2][:0]))
	if mode == findIdle {
		sc.hold = min(sc.hold, r.holdPoint(s))
	}
	mapStep(s, sm)
	sc.list[2] = sm[:0]
	return sm
}

// jsonMatters reports whether b JSON-unescaped, or a view of that, can hold
// a match that b and its own views cannot: whether an escape decodes to a
// byte a match may take or to a trigger of a view ('\\', '%'), or a row of
// escapes decodes to line breaks alone (a CR too: a percent-decoded LF
// beside it makes a line break of it) between two bytes a match may take,
// or '%', which may begin one. Other bytes keep a match from joining the
// bytes around them. Line breaks of b beside an escape count too, rather
// than be looked into.
func (r *Redactor) jsonMatters(b []byte) bool {
	var buf [utf8.UTFMax]byte
	for i := 0; ; {
		j := index(b, i, '\\')
		if j == len(b) {
			return false
		}
		// The row of escapes from j.
		e, breaks := j, true
		for e < len(b) && b[e] == '\\' {
			d, rn := buf[:0], 2
			if e+1 < len(b) && unescaped[b[e+1]] != 0 {
				d = append(d, unescaped[b[e+1]])
			} else if d, rn = decode(jsonEsc, d, b, e); rn == 0 {
				return true // a backslash kept may begin an escape of the view
			}
			for _, c := range d {
				if r.near[c] || c == '\\' || c == '%' {
					return true
				}
				breaks = breaks && isBreak(c)
			}
			e += rn
		}
		if j > 0 && isBreak(b[j-1]) || e < len(b) && isBreak(b[e]) {
			return true
		}
		if breaks && j > 0 && e < len(b) && r.joins(b[j-1], b[e]) {
			return true
		}
		i = e
	}
}

// percentMatters reports whether b percent-decoded, or that without line
// breaks, can hold a match that b and its own views cannot: whether a
// match may touch a byte an escape decodes to, judged by the four bytes
// either side of it, or a line break is as near (removed, it may join
// other bytes to it).
func (r *Redactor) percentMatters(b []byte) bool {
	var buf [12 * gram]byte // before, after, and the two with the byte between
	for i := 0; ; {
		j := index(b, i, '%')
		if j+2 >= len(b) {
			return false
		}
		i = j + 1
		if !isHex(b[j+1]) || !isHex(b[j+2]) {
			continue
		}
		i = j + 3
		c := unhex(b[j+1])<<4 | unhex(b[j+2])
		switch {
		case c == '=' || isBreak(c):
			return true
		case !r.near[c]:
			continue
		case j >= gram+2 && i+gram <= len(b):
			// Plain text either side, the common case: the grams that
			// reach the byte, without copying. The four bytes before
			// are plain unless an escape begins up to two before them.
			x, y := binary.LittleEndian.Uint32(b[j-gram:]), binary.LittleEndian.Uint32(b[i:])
			if b[j-gram-1] != '%' && b[j-gram-2] != '%' && !holds(x, '%') && !holds(y, '%') &&
				!holds(x, '\n') && !holds(y, '\n') && !holds(x, '\r') && !holds(y, '\r') {
				t := uint64(x) | uint64(c)<<32 | uint64(y)<<40
				for k := range gram + 1 {
					if r.all.has(uint32(t >> (8 * k))) {
						return true
					}
				}
				if r.all.has(y) {
					return true
				}
				continue
			}
		}
		before, after := b[max(j-gram, 0):j], b[i:min(i+gram, len(b))]
		if bytes.IndexByte(before, '%') >= 0 || bytes.IndexByte(after, '%') >= 0 {
			// Escapes nearby: decode enough for four bytes either side.
			// Each takes at most three; two more before may end an
			// escape that began earlier.
			before = appendUnescaped(buf[:0], b[max(j-3*gram-2, 0):j])
			before = before[max(len(before)-gram, 0):]
			after = appendUnescaped(buf[4*gram:4*gram], b[i:min(i+3*gram, len(b))])
			after = after[:min(len(after), gram)]
		}
		t := append(append(append(buf[8*gram:8*gram], before...), c), after...)
		if hasBreak(t) || r.touches(t, len(before), len(before)+1) {
			return true
		}
	}
}

func isBreak(c byte) bool { return c == '\n' || c == '\r' }

// holds reports whether one of the four bytes of x is c.
func holds(x uint32, c byte) bool {
	const ones, highs = 0x01010101, 0x80808080
	y := x ^ ones*uint32(c)
	return (y-ones)&^y&highs != 0
}

func hasBreak(b []byte) bool {
	for _, c := range b {
		if isBreak(c) {
			return true
		}
	}
	return false
}

// joins reports whether a match may take both of the bytes that line
// breaks separate: with '%', which a view may decode to one.
func (r *Redactor) joins(x, y byte) bool {
	return (r.near[x] || x == '%') && (r.near[y] || y == '%')
}

// junctions reports whether b without its line breaks can hold a match
// that b does not: whether a line break lies between two bytes that a
// match may take. Idle, any line break does, since more text may follow it.
func (r *Redactor) junctions(b []byte, mode findMode) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		if mode == findIdle {
			return true
		}
		lo, hi := i+j, i+j+1
		for lo > i && b[lo-1] == '\r' {
			lo--
		}
		for hi < len(b) && (b[hi] == '\r' || b[hi] == '\n') {
			hi++
		}
		if lo > 0 && hi < len(b) && r.near[b[lo-1]] && r.near[b[hi]] {
			return true
		}
		i = hi
	}
}

// scan appends the matches in v's windows to out, sorted and merged, each
// widened over the base64 characters beside it that still carry bits of
// the value, and over the padding after it.
func (r *Redactor) scan(v *view, out []match) []match {
	b := v.b
	for _, w := range v.wins {
		out = r.scanWin(b, w.lo, min(w.hi, len(b)), out)
	}
	return out
}

func (r *Redactor) scanWin(b []byte, lo, hi int, out []match) []match {
	for from := lo; ; {
		s, p := r.next(b[:hi], from)
		if s < 0 {
			return out
		}
		pat := &r.pats[p]
		e := s + len(pat.b)
		// A match starting inside this one and ending beyond it would
		// leave a piece of its value: look for one.
		from = max(s+1, e-r.maxPat+1)
		m := match{s: s, e: e, name: pat.name}
		if pat.lead && s > 0 && isBase64(b[s-1]) {
			m.s--
		}
		if pat.trail {
			switch {
			case e == len(b):
				m.open = true
			case isBase64(b[e]):
				m.e++
				for n := 0; n < 2 && m.e < len(b) && b[m.e] == '='; n++ {
					m.e++
				}
			}
		}
		if n := len(out) - 1; n >= 0 && m.s < out[n].e {
			out[n].s = min(out[n].s, m.s)
			out[n].e = max(out[n].e, m.e)
			out[n].open = out[n].open || m.open
			continue
		}
		out = append(out, m)
	}
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
}

// normalize sorts ms and merges the spans that overlap.
func normalize(ms []match) []match {
	if len(ms) < 2 {
		return ms
	}
	slices.SortFunc(ms, func(a, b match) int { return cmp.Compare(a.s, b.s) })
	out := ms[:1]
	for _, m := range ms[1:] {
		if l := &out[len(out)-1]; m.s < l.e {
			l.e = max(l.e, m.e)
			l.open = l.open || m.open
			continue
		}
		out = append(out, m)
	}
	return out
}

// mapUp maps ms, sorted and disjoint spans of v, to spans of the input.
func mapUp(v *view, ms []match) []match {
	for ; v.parent != nil; v = v.parent {
		mapStep(v, ms)
		ms = normalize(ms)
	}
	return ms
}

// mapStep maps ms, sorted and disjoint spans of v, to the spans of v's
// parent they were decoded from, whole escape sequences included.
func mapStep(v *view, ms []match) {
	var u units
	u.init(v.k, v.parent.b)
	for i := range ms {
		u.jump(v.marks, ms[i].s)
		ms[i].s, _ = u.at(ms[i].s)
		_, ms[i].e = u.at(ms[i].e - 1)
	}
}

// snap widens ms, sorted and disjoint spans of b, to whole JSON escape
// sequences of b.
func snap(b []byte, ms []match) []match {
	for i := range ms {
		ms[i].s, _ = escapeAt(b, ms[i].s)
		_, ms[i].e = escapeAt(b, ms[i].e-1)
	}
	return normalize(ms)
}

// escapeAt returns the JSON escape sequence of b that byte x is part of, or
// x alone. An escape is at most 12 bytes, and a run of backslashes begins
// at the start of one, so decoding from the run of the first backslash in
// the 12 bytes up to x finds it.
func escapeAt(b []byte, x int) (lo, hi int) {
	from := max(0, x-11)
	i := bytes.IndexByte(b[from:x+1], '\\')
	if i < 0 {
		return x, x + 1
	}
	for i += from; i > 0 && b[i-1] == '\\'; i-- {
	}
	var tmp [utf8.UTFMax]byte
	for {
		n := 1
		if b[i] == '\\' {
			if _, k := decode(jsonEsc, tmp[:0], b, i); k > 0 {
				n = k
			}
		}
		if x < i+n {
			if n == 1 {
				return x, x + 1
			}
			return i, i + n
		}
		i += n
	}
}

// mapPoint maps position t of v to the input, at the start of the escape
// sequence it is part of.
func mapPoint(v *view, t int) int {
	for ; v.parent != nil; v = v.parent {
		var u units
		u.init(v.k, v.parent.b)
		u.jump(v.marks, t)
		t, _ = u.at(t)
	}
	return t
}

// build decodes parent into v and returns how many escapes it decoded. The
// windows of v are where it can hold a match that parent does not: around
// each decoded escape that a match may touch (every one, with every).
func (r *Redactor) build(v *view, k kind, parent *view, every bool) int {
	p := parent.b
	v.k, v.parent, v.wins, v.marks = k, parent, v.wins[:0], v.marks[:0]
	if cap(v.b) < len(p) {
		v.b = make([]byte, len(p)) // decoding never lengthens: one allocation at most
	}
	out := v.b[:len(p)]
	c := trigger(k)
	n, o, marked, esc := 0, 0, 0, false
	// v.wins[:w] are windows; after them come the escapes that a match may
	// touch by their bytes alone, until the text after them is decoded.
	w := 0
	for i := 0; ; {
		j := index(p, i, c)
		o += copy(out[o:], p[i:j])
		if j == len(p) {
			break
		}
		if k == lineBreaks {
			for j > i && p[j-1] == '\r' {
				j, o = j-1, o-1
			}
		}
		a := o
		var rn int
		if k == jsonEsc && j+1 < len(p) && unescaped[p[j+1]] != 0 {
			out[o], o, rn = unescaped[p[j+1]], o+1, 2 // the common ones, without a call
		} else {
			var d []byte
			d, rn = decode(k, out[:o], p, j)
			o = len(d)
		}
		if rn > 0 {
			n++
			i = j + rn
		} else {
			// Not an escape: kept as it is. A backslash may still begin
			// an escape of v.
			out[o], o, i = p[j], o+1, j+1
			if k != jsonEsc {
				continue
			}
		}
		cand := every
		if k == lineBreaks {
			cand = cand || a > 0 && i < len(p) && r.near[out[a-1]] && r.near[p[i]]
		}
		for _, b := range out[a:o] {
			cand = cand || r.near[b]
		}
		e := o
		if k == jsonEsc && out[a] == '\\' {
			// A match of v that ends or begins inside the escape sequence
			// this backslash begins takes the whole sequence: at most 12
			// bytes, settle finds out how many.
			cand, esc, e = true, true, a+12
		}
		if cand {
			v.wins = append(v.wins, win{a, e})
			if len(v.wins)-w >= 64 {
				w = r.settle(v, out[:o], w, every)
			}
		}
		if o-marked >= markEvery {
			marked = o
			v.marks = append(v.marks, mark{r: i, v: marked})
		}
	}
	v.b, v.esc = out[:o], esc
	r.settle(v, v.b, w, every)
	return n
}

// settle turns the escapes recorded after the windows v.wins[:w] into
// windows, those that a match may touch, and returns how many windows there
// are. b is what is decoded of v so far: an escape waits for the four bytes
// after it, unless b is all of v. A match that touches an escape begins at
// most the longest pattern and the base64 and padding characters it takes
// before it, and at most right after it.
func (r *Redactor) settle(v *view, b []byte, w int, every bool) int {
	pad := r.maxPat + 2
	all := len(b) == len(v.b)
	i := w
	for ; i < len(v.wins); i++ {
		u := v.wins[i]
		if u.hi+gram > len(b) && !all {
			break
		}
		u.hi = min(u.hi, len(b))
		if v.k == jsonEsc && b[u.lo] == '\\' {
			var tmp [utf8.UTFMax]byte
			_, rn := decode(jsonEsc, tmp[:0], b, u.lo)
			u.hi = u.lo + max(rn, 1)
		}
		if !every && !r.touches(b, u.lo, u.hi) {
			continue
		}
		lo, hi := max(u.lo-pad, 0), u.hi+pad
		if w > 0 && lo <= v.wins[w-1].hi {
			v.wins[w-1].hi = hi
		} else {
			v.wins[w] = win{lo, hi}
			w++
		}
	}
	v.wins = append(v.wins[:w], v.wins[i:]...)
	return w
}

// touches reports whether a match could touch b[a:e], bytes that differ
// from the parent's, or the place a where line breaks were removed (e ==
// a). A match takes a byte of the patterns or a base64 character beside
// them: the bytes first. Then the grams: a pattern that overlaps b[a:e]
// holds the gram at one of a-3 .. e-1; one that ends at a (and takes b[a]
// as its last base64 character) the gram at a-4; one that begins at e (and
// takes b[e-1]) the gram at e. Padding may follow a match's last
// character: an '=' always counts.
func (r *Redactor) touches(b []byte, a, e int) bool {
	if a == e {
		// Line breaks, between bytes a match may take (junctions,
		// build): padding may come after them.
		if a < len(b) && b[a] == '=' {
			return true
		}
	} else {
		near := false
		for _, c := range b[a:e] {
			if c == '=' {
				return true
			}
			near = near || r.near[c]
		}
		if !near {
			return false
		}
	}
	for g := max(a-gram, 0); g <= e && g+gram <= len(b); g++ {
		if r.all.has(binary.LittleEndian.Uint32(b[g:])) {
			return true
		}
	}
	return false
}

func trigger(k kind) byte {
	switch k {
	case percent:
		return '%'
	case lineBreaks:
		return '\n'
	}
	return '\\'
}

// index returns where the first c at or after i is in b, or len(b). Eight
// bytes at a time first, since escapes are often a few words apart, where
// IndexByte costs more to call than to run.
func index(b []byte, i int, c byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	cc := ones * uint64(c)
	for n := 0; n < 8 && i+8 <= len(b); n++ {
		// A byte equal to c is a zero byte of y: the lowest one sets the
		// lowest high bit.
		if y := binary.LittleEndian.Uint64(b[i:]) ^ cc; (y-ones)&^y&highs != 0 {
			return i + bits.TrailingZeros64((y-ones)&^y&highs)/8
		}
		i += 8
	}
	if j := bytes.IndexByte(b[i:], c); j >= 0 {
		return i + j
	}
	return len(b)
}

// nextTrigger returns where the next escape of kind k at or after i may
// begin, or -1.
func nextTrigger(k kind, p []byte, i int) int {
	j := bytes.IndexByte(p[i:], trigger(k))
	if j < 0 {
		return -1
	}
	j += i
	if k == lineBreaks {
		for j > i && p[j-1] == '\r' {
			j--
		}
	}
	return j
}

// decode appends what the escape at p[i] stands for to dst, and returns how
// many bytes of p it takes: 0 when p[i] begins no escape of kind k.
func decode(k kind, dst, p []byte, i int) ([]byte, int) {
	switch k {
	case percent:
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			return append(dst, unhex(p[i+1])<<4|unhex(p[i+2])), 3
		}
		return dst, 0
	case lineBreaks:
		n := i
		for n < len(p) && (p[n] == '\r' || p[n] == '\n') {
			n++
		}
		return dst, n - i
	}
	if i+1 >= len(p) {
		return dst, 0
	}
	if c := unescaped[p[i+1]]; c != 0 {
		return append(dst, c), 2
	}
	if p[i+1] == 'u' {
		r1, ok := hex4(p, i+2)
		if !ok {
			return dst, 0
		}
		if !utf16.IsSurrogate(r1) {
			return utf8.AppendRune(dst, r1), 6
		}
		if r1 < 0xDC00 && i+12 <= len(p) && p[i+6] == '\\' && p[i+7] == 'u' {
			if r2, ok := hex4(p, i+8); ok && r2 >= 0xDC00 && r2 < 0xE000 {
				return utf8.AppendRune(dst, utf16.DecodeRune(r1, r2)), 12
			}
		}
		if r1 >= 0xDC80 && r1 <= 0xDCFF {
			// Python's surrogateescape: a byte of a value that is not UTF-8.
			return append(dst, byte(r1)), 6
		}
		return utf8.AppendRune(dst, utf8.RuneError), 6
	}
	return dst, 0
}

// unescaped is what the two-byte JSON escape \c stands for, by c; 0: none.
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func hex4(p []byte, i int) (rune, bool) {
	if i+4 > len(p) {
		return 0, false
	}
	var r rune
	for _, c := range p[i : i+4] {
		if !isHex(c) {
			return 0, false
		}
		r = r<<4 | rune(unhex(c))
	}
	return r, true
}

func isHex(c byte) bool { return hexVal[c] < 16 }

func unhex(c byte) byte { return hexVal[c] }

// hexVal is the value of a hex digit, 0xff for other bytes: one load rather
// than three ranges to test.
var hexVal = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			t[c] = byte(c - 'A' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// units walks the escapes of kind k in p, forward only, to map positions
// between p and the view decoded from it.
type units struct {
	k    kind
	p    []byte
	r, v int // where the plain text before the next escape begins, in p and in the view
	// The next escape: p[ur:ur+rn] decodes to vn bytes at uv of the view.
	// ur < 0: there is none.
	ur, rn, uv, vn int
	tmp            [utf8.UTFMax]byte
}

func (u *units) init(k kind, p []byte) {
	*u = units{k: k, p: p}
	u.find(0)
}

func (u *units) find(i int) {
	for {
		j := nextTrigger(u.k, u.p, i)
		if j < 0 {
			u.ur = -1
			return
		}
		out, rn := decode(u.k, u.tmp[:0], u.p, j)
		if rn > 0 {
			u.ur, u.rn, u.vn = j, rn, len(out)
			u.uv = u.v + j - u.r
			return
		}
		i = j + 1
	}
}

func (u *units) consume() {
	u.v = u.uv + u.vn
	u.r = u.ur + u.rn
	u.find(u.r)
}

// at returns the bytes of p that view byte t was decoded from: one byte, or
// the whole escape sequence it is part of.
func (u *units) at(t int) (lo, hi int) {
	for u.ur >= 0 && t >= u.uv+u.vn {
		u.consume()
	}
	if u.ur >= 0 && t >= u.uv {
		return u.ur, u.ur + u.rn
	}
	r := u.r + t - u.v
	return r, r + 1
}

// jump moves to the last mark at or before view byte t, when it is ahead.
func (u *units) jump(marks []mark, t int) {
	i, _ := slices.BinarySearchFunc(marks, t, func(m mark, t int) int { return cmp.Compare(m.v, t+1) })
	if i > 0 && marks[i-1].v > u.v {
		u.r, u.v = marks[i-1].r, marks[i-1].v
		u.find(u.r)
	}
}

// holdPoint is where, in the input, a tail of v begins that could still
// become a match when more input comes: a proper prefix of a pattern.
// Beyond len(input): none.
func (r *Redactor) holdPoint(v *view) int {
	b := v.b
	t, lead := r.tailStart(b)
	if t == len(b) {
		return int(^uint(0) >> 1)
	}
	if lead && t > 0 && isBase64(b[t-1]) {
		t--
	}
	return mapPoint(v, t)
}

// tailStart returns where the longest suffix of b that is a proper prefix
// of a pattern begins (len(b): none), and whether such a pattern takes the
// base64 character before it.
func (r *Redactor) tailStart(b []byte) (int, bool) {
	for n := min(len(b), r.maxPat-1); n > 0; n-- {
		if ok, lead := r.isPrefix(b[len(b)-n:]); ok {
			return len(b) - n, lead
		}
	}
	return len(b), false
}

// partialJSON returns where an unfinished JSON escape sequence at the end of
// b begins, or len(b).
func partialJSON(b []byte) int {
	for i := max(0, len(b)-12); i < len(b); i++ {
		if b[i] == '\\' && escapes(b, i) && unfinished(b[i:]) {
			return i
		}
	}
	return len(b)
}

// escapes reports whether the backslash at b[i] begins an escape sequence
// rather than ends one (\\).
func escapes(b []byte, i int) bool {
	n := 0
	for j := i; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// unfinished reports whether s, which begins with a backslash, is a proper
// prefix of an escape sequence: \, \u, \u00, or a high surrogate whose low
// half may still come.
func unfinished(s []byte) bool {
	if len(s) == 1 {
		return true
	}
	if s[1] != 'u' {
		return false
	}
	for i := 2; i < min(len(s), 6); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	if len(s) < 6 {
		return true
	}
	r1, _ := hex4(s, 2)
	if r1 < 0xD800 || r1 >= 0xDC00 || len(s) >= 12 {
		return false
	}
	low := s[6:]
	if len(low) > 0 && low[0] != '\\' || len(low) > 1 && low[1] != 'u' {
		return false
	}
	for i := 2; i < len(low); i++ {
		if !isHex(low[i]) {
			return false
		}
	}
	return true
}

// partialPercent returns where an unfinished %XX at the end of b begins, or
// len(b).
func partialPercent(b []byte) int {
	n := len(b)
	switch {
	case n >= 1 && b[n-1] == '%':
		return n - 1
	case n >= 2 && b[n-2] == '%' && isHex(b[n-1]):
		return n - 2
	}
	return n
}

// scratch is the memory of one search, reused across calls.
type scratch struct {
	raw    view
	rawWin [1]win
	chain  [maxDepth]view
	side   [2]view
	list   [3][]match
	ms     []match
	hold   int
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// maxPooled: the buffers of a huge line are left to the collector rather
// than kept for the next small one.
const maxPooled = 4 << 20

func getScratch() *scratch { return scratches.Get().(*scratch) }

// putScratch returns sc to the pool after a search of n bytes. Its buffers
// grow with the text searched: only after a long one can they be too big
// to keep.
func putScratch(sc *scratch, n int) {
	sc.raw = view{}
	if n > maxPooled/64 {
		size := cap(sc.ms) * 24
		for i := range sc.chain {
			size = max(size, cap(sc.chain[i].b), cap(sc.chain[i].wins)*16, cap(sc.chain[i].marks)*16)
		}
		for i := range sc.side {
			size = max(size, cap(sc.side[i].b), cap(sc.side[i].wins)*16, cap(sc.side[i].marks)*16)
		}
		for i := range sc.list {
			size = max(size, cap(sc.list[i])*24)
		}
		if size > maxPooled {
			return
		}
	}
	scratches.Put(sc)
}
