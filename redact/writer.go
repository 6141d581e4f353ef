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

// Load returns the current redactor (nil before any Store).
func (s *Set) Load() *Redactor {
	if s == nil {
		return nil
	}
	return s.p.Load()
}

// Store makes r the redactor in effect.
func (s *Set) Store(r *Redactor) { s.p.Store(r) }

// maxLine bounds what a Writer holds back waiting for a newline.
const maxLine = 64 << 10

// Writer redacts a text stream line by line, so a secret split across two
// writes is still found. Lines longer than maxLine are let through in
// pieces, holding back enough bytes that no match is cut.
type Writer struct {
	mu   sync.Mutex
	w    io.Writer
	set  *Set
	json bool // each line is a JSON text: keep it valid
	buf  []byte
	out  []byte
}

// NewWriter redacts what it writes to w with set's current redactor; with
// jsonLines, each line is treated as one JSON text.
func NewWriter(w io.Writer, set *Set, jsonLines bool) *Writer {
	return &Writer{w: w, set: set, json: jsonLines}
}

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	r := w.set.Load()
	w.out = w.out[:0]
	done := 0
	for {
		i := bytes.IndexByte(w.buf[done:], '\n')
		if i < 0 {
			break
		}
		w.out = w.redact(r, w.out, w.buf[done:done+i+1])
		done += i + 1
	}
	if len(w.buf)-done > maxLine {
		var n int
		w.out, n = r.textPrefix(w.out, w.buf[done:])
		done += n
	}
	w.buf = append(w.buf[:0], w.buf[done:]...)
	if len(w.out) > 0 {
		if _, err := w.w.Write(w.out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what is held back, redacted.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	w.out = w.redact(w.set.Load(), w.out[:0], w.buf)
	w.buf = w.buf[:0]
	_, err := w.w.Write(w.out)
	return err
}

func (w *Writer) redact(r *Redactor, dst, line []byte) []byte {
	if w.json {
		return r.JSON(dst, line)
	}
	return r.Text(dst, line)
}

// textPrefix redacts src up to where a match could still be cut by the end
// of src, and returns how much of src it consumed.
func (r *Redactor) textPrefix(dst, src []byte) ([]byte, int) {
	cut := len(src) - r.maxLen() + 1
	if cut <= 0 {
		return dst, 0
	}
	last := 0
	for from := 0; ; {
		s, p := r.next(src, from)
		if s < 0 || s >= cut {
			break
		}
		dst = append(dst, src[last:s]...)
		dst = append(dst, r.pats[p].repl...)
		last = s + len(r.pats[p].b)
		from = last
	}
	if last < cut {
		dst = append(dst, src[last:cut]...)
		last = cut
	}
	return dst, last
}

func (r *Redactor) maxLen() int {
	if r == nil || len(r.pats) == 0 {
		return 1
	}
	return len(r.pats[0].b) // sorted longest first
}
