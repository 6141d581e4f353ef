package redact

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
)

// Set holds the redactor in effect; rotation swaps it while writers use it.
type Set struct {
	p atomic.Pointer[Redactor]
}

// Load returns the current redactor (nil before any Store, and for a nil
// Set).
func (s *Set) Load() *Redactor {
	if s == nil {
		return nil
	}
	return s.p.Load()
}

// Store makes r the redactor in effect.
func (s *Set) Store(r *Redactor) { s.p.Store(r) }

const (
	// maxLine is what a Writer holds back waiting for a newline, at least.
	maxLine = 64 << 10
	// expand is how many input bytes one byte of a decoded view can take:
	// `\\\\u003c` is a '<' escaped by Go inside two JSON strings.
	expand = 9
	// maxHold bounds what is held back of a long line, whatever the
	// longest pattern: a value longer than about 100 KiB is found in
	// lines shorter than the bound only.
	maxHold = 1 << 20
)

// hold is how many bytes at the end of a long line may still be the start
// of a match.
func (r *Redactor) hold() int {
	if r == nil || len(r.pats) == 0 {
		return 0
	}
	// +4: the base64 characters and padding a match takes beside its
	// pattern; +12: the escape it may end inside.
	return min(expand*(r.maxPat+4)+12, maxHold)
}

// bound is how long an unfinished line gets before it is let through in
// pieces.
func (r *Redactor) bound() int { return max(maxLine, 2*r.hold()) }

// Writer redacts a text stream line by line, so a secret split across
// writes is still found. A line that ends with base64 (at least minWrap
// characters) is held until a line that does not, and they are redacted
// together: base64 wrapped at any width is found across its lines.
// A line longer than a bound (64 KiB, more for long values) is let through
// in pieces, holding back enough bytes that no match is cut; a JSON line let
// through in pieces is redacted as text.
type Writer struct {
	mu   sync.Mutex
	w    io.Writer
	set  *Set
	json bool // each line is a JSON text: keep it valid
	buf  []byte
	out  []byte
	run  int // base64 characters let through just before buf, on its line
}

// NewWriter redacts what it writes to w with set's current redactor; with
// jsonLines, each line is treated as one JSON text. A nil set redacts
// nothing.
func NewWriter(w io.Writer, set *Set, jsonLines bool) *Writer {
	return &Writer{w: w, set: set, json: jsonLines}
}

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.set.Load()
	bound := r.bound()
	for rest := p; len(rest) > 0; {
		// A piece at a time, so what is held stays about twice the bound.
		n := min(len(rest), bound)
		w.buf = append(w.buf, rest[:n]...)
		rest = rest[n:]
		w.out = w.out[:0]
		done := 0
		for end := 0; ; {
			i := bytes.IndexByte(w.buf[end:], '\n')
			if i < 0 {
				break
			}
			start := end
			end += i + 1
			// Base64 wrapped at some width is redacted as one text, so
			// the view without line breaks finds a value across lines.
			before := 0
			if start == 0 {
				before = w.run
			}
			if end-done < bound && wrapLine(w.buf[start:end], before) {
				continue
			}
			if done < start && !isBase64(w.buf[start]) {
				// This line does not continue the lines held: a JSON
				// line after them stays a JSON text of its own.
				w.out = w.redact(r, w.out, w.buf[done:start])
				done = start
			}
			w.out = w.redact(r, w.out, w.buf[done:end])
			done, w.run = end, 0
		}
		if len(w.buf)-done > bound {
			var n int
			w.out, n = r.prefix(w.out, w.buf[done:], false, false)
			w.passed(w.buf[done : done+n])
			done += n
		}
		w.buf = append(w.buf[:0], w.buf[done:]...)
		if len(w.out) > 0 {
			if _, err := w.w.Write(w.out); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

// Flush writes everything held back, redacted: the stream has ended.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	w.out = w.redact(w.set.Load(), w.out[:0], w.buf)
	w.buf, w.run = w.buf[:0], 0
	_, err := w.w.Write(w.out)
	return err
}

// FlushIdle writes what is held back, redacted, but for a tail that could
// still be the beginning of a secret (a prefix of one of its forms, an
// unfinished escape sequence): for a caller that flushes when the child goes
// quiet, so that a protocol whose messages do not end with a newline does
// not stall.
func (w *Writer) FlushIdle() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	var n int
	w.out, n = w.set.Load().prefix(w.out[:0], w.buf, true, w.json)
	w.passed(w.buf[:n])
	w.buf = append(w.buf[:0], w.buf[n:]...)
	if len(w.out) == 0 {
		return nil
	}
	_, err := w.w.Write(w.out)
	return err
}

// minWrap is the fewest base64 characters a line ends with to be taken for
// a line of wrapped base64: fewer are words.
const minWrap = 16

// wrapLine reports whether line may end with base64 that the next line
// continues: a printed block (`data: QUJD...`) begins after other text.
// before is how many base64 characters just before line were let through.
func wrapLine(line []byte, before int) bool {
	for len(line) > 0 && isBreak(line[len(line)-1]) {
		line = line[:len(line)-1]
	}
	n := trailingBase64(line)
	if n == len(line) {
		n += before
	}
	return n >= minWrap
}

// passed notes that p, the beginning of buf, was let through before its
// line ended.
func (w *Writer) passed(p []byte) {
	if n := trailingBase64(p); n < len(p) {
		w.run = n
	} else {
		w.run += n
	}
}

func trailingBase64(b []byte) int {
	n := 0
	for n < len(b) && isBase64(b[len(b)-1-n]) {
		n++
	}
	return n
}

func (w *Writer) redact(r *Redactor, dst, line []byte) []byte {
	if w.json {
		return r.JSON(dst, line)
	}
	return r.Text(dst, line)
}

// prefix redacts the longest prefix of src that a match or an escape
// sequence still to come cannot reach into, and returns its length. Idle,
// that is all of src but a tail that could become a match; otherwise all
// but the last r.hold() bytes. A whole JSON text stays valid.
func (r *Redactor) prefix(dst, src []byte, idle, isJSON bool) ([]byte, int) {
	if r == nil || len(r.pats) == 0 {
		return append(dst, src...), len(src)
	}
	sc := getScratch()
	defer putScratch(sc, len(src))
	mode := findAll
	if idle {
		mode = findIdle
	}
	ms := r.find(sc, src, mode, 0)
	cut := max(len(src)-r.hold(), 0)
	if idle {
		cut = sc.hold
	}
	cut = min(cut, partialJSON(src[:cut]), partialPercent(src[:cut]))
	n := 0
	for ; n < len(ms) && ms[n].s < cut; n++ {
		if ms[n].open {
			cut = ms[n].s
			break
		}
		cut = max(cut, ms[n].e)
	}
	if cut == len(src) && isJSON {
		return r.JSON(dst, src), cut
	}
	return r.replace(dst, src[:cut], ms[:n]), cut
}
