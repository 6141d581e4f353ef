// Package redact replaces secret values, in their plain, JSON-escaped and
// base64 forms, by [REDACTED:NAME] in everything a child or the launcher
// prints.
//
// Matching is multi-pattern with a q-gram filter: every pattern is at least
// MinLen bytes, so probing the 4-byte gram at every third position of the
// input finds each occurrence, and a bitset answers most probes. The cost per
// byte does not grow with the number of secrets.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
)

// MinLen is the shortest value redacted: shorter ones would match ordinary
// text everywhere.
const MinLen = 6

const (
	gram   = 4
	stride = MinLen - gram + 1 // a pattern of MinLen bytes holds a gram at one of any stride positions
)

// Secret is a value and the name that stands for it.
type Secret struct {
	Name, Value string
}

// Redactor finds and replaces secrets. A nil *Redactor replaces nothing.
// It is immutable and safe for concurrent use.
type Redactor struct {
	pats    []pattern
	filter  []uint64                // bitset over hash(gram)
	shift   uint32                  // 32 - log2(bits in filter)
	grams   map[uint32][]gramOffset // gram -> patterns holding it at offset
	skipped []string
}

type pattern struct {
	b    []byte
	repl []byte // [REDACTED:NAME]
}

type gramOffset struct {
	pat    int32
	offset int32
}

// New builds a redactor for secrets. Values shorter than MinLen are not
// redacted: Skipped names them so the caller can say so once.
func New(secrets []Secret) *Redactor {
	r := &Redactor{grams: map[uint32][]gramOffset{}}
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s.Value) < MinLen {
			if s.Value != "" {
				r.skipped = append(r.skipped, s.Name)
			}
			continue
		}
		repl := []byte("[REDACTED:" + s.Name + "]")
		for _, form := range forms(s.Value) {
			if len(form) < MinLen || seen[form] {
				continue
			}
			seen[form] = true
			r.pats = append(r.pats, pattern{b: []byte(form), repl: repl})
		}
	}
	if len(r.pats) == 0 && len(r.skipped) == 0 {
		return nil
	}
	// Longest first, so the longest of the patterns that start at one
	// position wins.
	slices.SortStableFunc(r.pats, func(a, b pattern) int { return len(b.b) - len(a.b) })
	// About 64 filter bits per gram: few false hits, and a filter small
	// enough to stay in cache (32 KiB for a hundred secrets).
	bits := uint32(16)
	for 1<<bits < 64*stride*len(r.pats) && bits < 24 {
		bits++
	}
	r.shift = 32 - bits
	r.filter = make([]uint64, 1<<bits/64)
	for i, p := range r.pats {
		for off := 0; off < stride; off++ {
			g := binary.LittleEndian.Uint32(p.b[off:])
			h := r.hash(g)
			r.filter[h/64] |= 1 << (h % 64)
			r.grams[g] = append(r.grams[g], gramOffset{int32(i), int32(off)})
		}
	}
	return r
}

// Skipped names the values too short to redact.
func (r *Redactor) Skipped() []string {
	if r == nil {
		return nil
	}
	return r.skipped
}

func (r *Redactor) hash(g uint32) uint32 { return (g * 0x9E3779B1) >> r.shift }

// forms are the ways a value shows up in output: as is, escaped in a JSON
// string (by Go, which also escapes <>&, and by everyone else), and in
// base64 at each of the three alignments it can have inside a longer encoded
// text, in the standard and URL alphabets.
func forms(v string) []string {
	out := []string{v}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	_ = e.Encode(v) // a string always encodes
	goEsc := strings.TrimSuffix(b.String(), "\n")
	goEsc = goEsc[1 : len(goEsc)-1]
	b.Reset()
	e.SetEscapeHTML(false)
	_ = e.Encode(v)
	plainEsc := strings.TrimSuffix(b.String(), "\n")
	plainEsc = plainEsc[1 : len(plainEsc)-1]
	out = append(out, plainEsc, goEsc)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for shift := range 3 {
			out = append(out, base64Inner(enc, v, shift))
		}
	}
	return out
}

// base64Inner is the part of the base64 encoding of v, preceded by shift
// bytes of anything, that depends on v alone.
func base64Inner(enc *base64.Encoding, v string, shift int) string {
	src := append(make([]byte, shift), v...)
	full := enc.EncodeToString(src)
	// Characters covering the prefix bytes (and the one they share with v)
	// vary with what precedes; so do the last ones when v ends mid-group.
	start := (shift*8 + 5) / 6
	end := len(src) * 8 / 6
	if start >= end {
		return ""
	}
	return full[start:end]
}

// Text replaces every secret in src, appending the result to dst.
func (r *Redactor) Text(dst, src []byte) []byte {
	if r == nil || len(r.pats) == 0 {
		return append(dst, src...)
	}
	last := 0
	for from := 0; ; {
		s, p := r.next(src, from)
		if s < 0 {
			break
		}
		dst = append(dst, src[last:s]...)
		dst = append(dst, r.pats[p].repl...)
		last = s + len(r.pats[p].b)
		from = last
	}
	return append(dst, src[last:]...)
}

// Contains reports whether src holds a secret.
func (r *Redactor) Contains(src []byte) bool {
	if r == nil || len(r.pats) == 0 {
		return false
	}
	s, _ := r.next(src, 0)
	return s >= 0
}

// next finds the leftmost, then longest, match starting at or after from.
func (r *Redactor) next(b []byte, from int) (start, pat int) {
	filter, shift := r.filter, r.shift
	for j := from; j+gram <= len(b); j += stride {
		g := binary.LittleEndian.Uint32(b[j:])
		h := (g * 0x9E3779B1) >> shift
		if filter[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		start, pat = -1, -1
		for _, c := range r.grams[g] {
			s := j - int(c.offset)
			if s < from || (start >= 0 && s > start) {
				continue
			}
			p := r.pats[c.pat].b
			if !bytes.HasPrefix(b[s:], p) {
				continue
			}
			if s < start || start < 0 || len(p) > len(r.pats[pat].b) {
				start, pat = s, int(c.pat)
			}
		}
		if start >= 0 {
			return start, pat
		}
	}
	return -1, -1
}
