// Package redact replaces secret values by [REDACTED:NAME] in everything a
// child or the launcher prints, in every form a real encoder emits them:
// plain, JSON-escaped (any escape, JSON text inside a JSON string up to three
// levels deep), percent-encoded, base64 (standard or URL-safe, padded or not,
// at any alignment, line-wrapped at any width) and their combinations.
//
// The patterns are the values and their base64 inner forms; the escaped forms
// cannot be enumerated per value, so the input is decoded instead: a decoded
// view (JSON-unescaped, percent-decoded, CR/LF removed) is built only when an
// escape decodes to bytes that a match may take, searched only around those
// escapes, and its matches are mapped back to the raw bytes. Most escapes in
// real text (\n between lines, \" around words) decode to bytes no value
// holds, and cost no more than finding them.
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
	markers [][]byte                // [REDACTED:NAME], by pattern.name
	filter  gramSet                 // the grams at the first stride offsets of the patterns
	grams   map[uint32][]gramOffset // gram -> patterns holding it at offset
	all     gramSet                 // the grams at every offset
	near    [256]bool               // bytes a match may take: those of the patterns, base64 and padding
	short   map[uint32]bool         // prefixes shorter than a gram -> a pattern with lead has it
	maxPat  int
	skipped []string
}

type pattern struct {
	b    []byte
	name int32
	// A base64 inner form leaves out the characters it shares with the
	// bytes around the value; they still carry some of its bits, so a match
	// takes them too.
	lead, trail bool
}

type gramOffset struct {
	pat    int32
	offset int32
}

// New builds a redactor for secrets. Values shorter than MinLen are not
// redacted: Skipped names them so the caller can say so once. A value that
// holds line breaks is a target as a whole, without its line breaks, and line
// by line (lines of at least MinLen bytes), so a key printed line by line is
// still found.
func New(secrets []Secret) *Redactor {
	r := &Redactor{grams: map[uint32][]gramOffset{}, short: map[uint32]bool{}}
	seen := map[string]int{}
	names := map[string]int32{}
	skipped := map[string]bool{}
	for _, s := range secrets {
		if len(s.Value) < MinLen {
			if s.Value != "" && !skipped[s.Name] {
				skipped[s.Name] = true
				r.skipped = append(r.skipped, s.Name)
			}
			continue
		}
		id, ok := names[s.Name]
		if !ok {
			id = int32(len(r.markers))
			names[s.Name] = id
			r.markers = append(r.markers, marker(s.Name))
		}
		for _, f := range forms(s.Value) {
			if len(f.b) < MinLen {
				continue
			}
			if i, ok := seen[f.b]; ok {
				r.pats[i].lead = r.pats[i].lead || f.lead
				r.pats[i].trail = r.pats[i].trail || f.trail
				continue
			}
			seen[f.b] = len(r.pats)
			r.pats = append(r.pats, pattern{b: []byte(f.b), name: id, lead: f.lead, trail: f.trail})
		}
	}
	if len(r.pats) == 0 && len(r.skipped) == 0 {
		return nil
	}
	// Longest first, so the longest of the patterns that start at one
	// position wins.
	slices.SortStableFunc(r.pats, func(a, b pattern) int { return len(b.b) - len(a.b) })
	if len(r.pats) > 0 {
		r.maxPat = len(r.pats[0].b)
	}
	// The filter is probed at every third byte of all text, and a false
	// hit costs a map lookup: 64 bits a gram. all is probed only beside
	// escapes that a match may touch, and a false hit costs a short search.
	r.filter = newGramSet(stride*len(r.pats), 64)
	n := 0
	for _, p := range r.pats {
		n += len(p.b) - gram + 1
	}
	r.all = newGramSet(n, 16)
	for i, p := range r.pats {
		for off := range len(p.b) - gram + 1 {
			g := binary.LittleEndian.Uint32(p.b[off:])
			r.all.add(g)
			if off < stride {
				r.filter.add(g)
				r.grams[g] = append(r.grams[g], gramOffset{int32(i), int32(off)})
			}
		}
		for n := 1; n < gram; n++ {
			k := shortKey(p.b[:n])
			r.short[k] = r.short[k] || p.lead
		}
		for _, c := range p.b {
			r.near[c] = true
		}
	}
	for c := range r.near {
		r.near[c] = r.near[c] || isBase64(byte(c)) || c == '='
	}
	return r
}

// A gramSet tells whether a 4-byte gram may be in a set: a bitset over the
// grams' hashes, small enough to stay in cache (32 KiB for the filter of a
// hundred secrets).
type gramSet struct {
	bits  []uint64
	shift uint32 // 32 - log2(len(bits)*64)
}

// newGramSet makes a set for n grams with about per bits for each: the more,
// the fewer other grams hit.
func newGramSet(n, per int) gramSet {
	b := uint32(16)
	for 1<<b < per*n && b < 24 {
		b++
	}
	return gramSet{bits: make([]uint64, 1<<b/64), shift: 32 - b}
}

func hash(g, shift uint32) uint32 { return (g * 0x9E3779B1) >> shift }

func (s gramSet) add(g uint32) {
	h := hash(g, s.shift)
	s.bits[h/64] |= 1 << (h % 64)
}

func (s gramSet) has(g uint32) bool {
	h := hash(g, s.shift)
	return s.bits[h/64]&(1<<(h%64)) != 0
}

// Skipped names the values too short to redact, once per name.
func (r *Redactor) Skipped() []string {
	if r == nil {
		return nil
	}
	return r.skipped
}

// marker is [REDACTED:NAME] with NAME reduced to bytes that are safe inside a
// JSON string and on a terminal.
func marker(name string) []byte {
	b := []byte("[REDACTED:" + name + "]")
	for i := len("[REDACTED:"); i < len(b)-1; i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return b
}

type form struct {
	b           string
	lead, trail bool
}

// forms are the patterns of a value: the value itself, its lines, and each
// of them in base64 at the three alignments it can have inside a longer
// encoded text, in the standard and URL alphabets. Escaped forms (JSON,
// percent-encoding, wrapping) are found by decoding the input instead, but
// for one: a space that a query string writes as '+'.
func forms(v string) []form {
	values := []string{v}
	if strings.ContainsAny(v, "\r\n") {
		values = append(values, strings.NewReplacer("\r", "", "\n", "").Replace(v))
		for line := range strings.Lines(v) {
			values = append(values, strings.TrimRight(line, "\r\n"))
		}
	}
	var out []form
	for _, v := range values {
		if len(v) < MinLen {
			continue
		}
		out = append(out, form{b: v})
		if strings.Contains(v, " ") {
			out = append(out, form{b: strings.ReplaceAll(v, " ", "+")})
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for shift := range 3 {
				out = append(out, base64Inner(enc, v, shift))
			}
		}
	}
	return out
}

// base64Inner is the part of the base64 encoding of v, preceded by shift
// bytes of anything, that depends on v alone.
func base64Inner(enc *base64.Encoding, v string, shift int) form {
	src := append(make([]byte, shift), v...)
	full := enc.EncodeToString(src)
	// Characters covering the prefix bytes (and the one they share with v)
	// vary with what precedes; so do the last ones when v ends mid-group.
	start := (shift*8 + 5) / 6
	end := len(src) * 8 / 6
	return form{b: full[start:end], lead: shift*8%6 != 0, trail: len(src)*8%6 != 0}
}

// Text replaces every secret in src, appending the result to dst.
func (r *Redactor) Text(dst, src []byte) []byte {
	if r == nil || len(r.pats) == 0 {
		return append(dst, src...)
	}
	from, none := r.quick(src)
	if none {
		return append(dst, src...)
	}
	sc := getScratch()
	defer putScratch(sc, len(src))
	return r.replace(dst, src, r.find(sc, src, findAll, from))
}

// Contains reports whether src holds a secret.
func (r *Redactor) Contains(src []byte) bool {
	if r == nil || len(r.pats) == 0 {
		return false
	}
	from, none := r.quick(src)
	switch {
	case from < len(src):
		return true
	case none:
		return false
	}
	sc := getScratch()
	defer putScratch(sc, len(src))
	return len(r.find(sc, src, findFirst, from)) > 0
}

// replace copies src to dst with every match replaced by its marker.
func (r *Redactor) replace(dst, src []byte, ms []match) []byte {
	last := 0
	for _, m := range ms {
		dst = append(dst, src[last:m.s]...)
		dst = append(dst, r.markers[m.name]...)
		last = m.e
	}
	return append(dst, src[last:]...)
}

// next finds the leftmost, then longest, match starting at or after from.
func (r *Redactor) next(b []byte, from int) (start, pat int) {
	filter, shift := r.filter.bits, r.filter.shift
	for j := from; j+gram <= len(b); j += stride {
		// Four probes at once, with a single branch: most text hits none.
		for j+4*stride+gram <= len(b) {
			x, y := binary.LittleEndian.Uint64(b[j:]), binary.LittleEndian.Uint64(b[j+2*stride:])
			h0, h1 := hash(uint32(x), shift), hash(uint32(x>>(8*stride)), shift)
			h2, h3 := hash(uint32(y), shift), hash(uint32(y>>(8*stride)), shift)
			if (filter[h0/64]>>(h0%64)|filter[h1/64]>>(h1%64)|filter[h2/64]>>(h2%64)|filter[h3/64]>>(h3%64))&1 != 0 {
				break
			}
			j += 4 * stride
		}
		g := binary.LittleEndian.Uint32(b[j:])
		if !r.filter.has(g) {
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

// isPrefix reports whether s is a proper prefix of a pattern, and whether
// one such pattern takes the base64 character before it.
func (r *Redactor) isPrefix(s []byte) (found, lead bool) {
	if len(s) < gram {
		lead, found = r.short[shortKey(s)]
		return found, lead
	}
	for _, c := range r.grams[binary.LittleEndian.Uint32(s)] {
		p := r.pats[c.pat]
		if c.offset == 0 && len(p.b) > len(s) && bytes.HasPrefix(p.b, s) {
			found, lead = true, lead || p.lead
		}
	}
	return found, lead
}

func shortKey(s []byte) uint32 {
	k := uint32(len(s)) << 24
	for i, c := range s {
		k |= uint32(c) << (8 * i)
	}
	return k
}
