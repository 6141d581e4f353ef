// Package providers defines references to secrets ($<provider:path?query#field>),
// the Provider interface every secret store implements, and the Resolver that
// turns a process's environment of references into values.
package providers

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Ref is one parsed reference: $<[provider:]path[?query][#field]>.
type Ref struct {
	Provider string // as written; empty means the default provider
	Path     string
	Version  string // ?version=
	Stage    string // ?stage= (AWS staging label)
	Field    string // #field: a key of the JSON object the secret holds, dotted for nesting
}

// Key names the secret a reference points to. References with equal keys are
// fetched once, whatever their fields.
type Key struct {
	Provider, Path, Version, Stage string
}

// Key returns the secret the reference points to.
func (r Ref) Key() Key { return Key{r.Provider, r.Path, r.Version, r.Stage} }

// Pinned reports whether the reference names a fixed version, which never changes.
func (k Key) Pinned() bool {
	return k.Version != "" || (k.Stage != "" && k.Stage != "AWSCURRENT")
}

// String returns the reference in its canonical source form.
func (r Ref) String() string {
	var b strings.Builder
	b.WriteString("$<")
	if r.Provider != "" {
		b.WriteString(r.Provider)
		b.WriteByte(':')
	}
	b.WriteString(r.Path)
	sep := byte('?')
	for _, q := range [...]struct{ k, v string }{{"version", r.Version}, {"stage", r.Stage}} {
		if q.v != "" {
			b.WriteByte(sep)
			b.WriteString(q.k)
			b.WriteByte('=')
			b.WriteString(q.v)
			sep = '&'
		}
	}
	if r.Field != "" {
		b.WriteByte('#')
		b.WriteString(r.Field)
	}
	b.WriteByte('>')
	return b.String()
}

// String names the secret without a field, as $<provider:path?query>.
func (k Key) String() string {
	return Ref{Provider: k.Provider, Path: k.Path, Version: k.Version, Stage: k.Stage}.String()
}

// Template is a value split into literal text and references.
type Template []Part

// Part is either literal text or a reference.
type Part struct {
	Literal string
	Ref     *Ref
}

// Refs returns the references of the template in order.
func (t Template) Refs() []Ref {
	var refs []Ref
	for _, p := range t {
		if p.Ref != nil {
			refs = append(refs, *p.Ref)
		}
	}
	return refs
}

// String returns the template in source form: Parse(t.String()) equals t.
func (t Template) String() string {
	var b strings.Builder
	for _, p := range t {
		if p.Ref != nil {
			b.WriteString(p.Ref.String())
		} else {
			b.WriteString(strings.ReplaceAll(p.Literal, "$<", "$$<"))
		}
	}
	return b.String()
}

// HasRef reports whether s may hold a reference (or an escaped "$$<"), the
// cheap test that decides whether a variable goes through the parser.
func HasRef(s string) bool { return strings.Contains(s, "$<") }

// SyntaxError is a malformed reference. It names the column, never the value,
// which may hold literal secrets around the reference.
type SyntaxError struct {
	Column int // 1-based, in characters
	Ref    string
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.Ref == "" {
		return fmt.Sprintf("column %d: %s", e.Column, e.Reason)
	}
	return fmt.Sprintf("column %d: %s in reference %q", e.Column, e.Reason, e.Ref)
}

func (e *SyntaxError) Unwrap() error { return ErrMalformed }

// maxRefShown bounds how much of a malformed reference an error repeats.
const maxRefShown = 64

// Parse splits a value into literal text and references. "$$<" is a literal "$<".
func Parse(s string) (Template, error) {
	var t Template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t = append(t, Part{Literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$$<"):
			lit.WriteString("$<")
			i += 3
		case strings.HasPrefix(s[i:], "$<"):
			ref, n, err := parseRef(s, i)
			if err != nil {
				return nil, err
			}
			flush()
			t = append(t, Part{Ref: &ref})
			i += n
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	flush()
	return t, nil
}

// parseRef parses the reference that starts at s[start] ("$<") and returns it
// with its length in bytes.
func parseRef(s string, start int) (Ref, int, error) {
	fail := func(at int, reason string) (Ref, int, error) {
		frag := s[start:min(at+1, len(s))]
		if len(frag) > maxRefShown {
			frag = frag[:maxRefShown] + "…"
		}
		return Ref{}, 0, &SyntaxError{Column: utf8.RuneCountInString(s[:at]) + 1, Ref: frag, Reason: reason}
	}
	body := start + 2
	end := -1
	for j := body; j < len(s); j++ {
		c := s[j]
		if c == '>' {
			end = j
			break
		}
		if c == '$' && j+1 < len(s) && s[j+1] == '<' {
			return fail(j, "nested \"$<\"")
		}
		if c <= ' ' || c == 0x7f {
			return fail(j, "whitespace or control character")
		}
	}
	if end < 0 {
		// Where the reference starts says more than where the value ends.
		_, _, err := fail(len(s)-1, `missing closing ">"`)
		err.(*SyntaxError).Column = utf8.RuneCountInString(s[:start]) + 1
		return Ref{}, 0, err
	}
	text := s[body:end]
	var r Ref
	if text == "" {
		return fail(end, "empty reference")
	}
	if i := strings.IndexByte(text, '#'); i >= 0 {
		r.Field = text[i+1:]
		text = text[:i]
		if r.Field == "" {
			return fail(end, "empty #field")
		}
		for seg := range strings.SplitSeq(r.Field, ".") {
			if seg == "" {
				return fail(end, "empty segment in #field")
			}
		}
		if strings.ContainsAny(r.Field, "#?") {
			return fail(end, `"#" or "?" in #field`)
		}
	}
	if i := strings.IndexByte(text, '?'); i >= 0 {
		query := text[i+1:]
		text = text[:i]
		if query == "" {
			return fail(end, "empty ?query")
		}
		for kv := range strings.SplitSeq(query, "&") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || v == "" || strings.ContainsAny(v, "?=") {
				return fail(end, fmt.Sprintf("query %q is not key=value", kv))
			}
			var dst *string
			switch k {
			case "version":
				dst = &r.Version
			case "stage":
				dst = &r.Stage
			default:
				return fail(end, fmt.Sprintf("unknown query key %q (want version or stage)", k))
			}
			if *dst != "" {
				return fail(end, fmt.Sprintf("query key %q given twice", k))
			}
			*dst = v
		}
	}
	// Only the first ":" ends the provider: AWS ARNs and Azure URLs hold more.
	if p, path, ok := strings.Cut(text, ":"); ok {
		if !validProviderName(p) {
			return fail(end, fmt.Sprintf("provider %q is not a name", p))
		}
		r.Provider, text = p, path
	}
	if text == "" {
		return fail(end, "empty path")
	}
	r.Path = text
	return r, end + 1 - start, nil
}

func validProviderName(p string) bool {
	if p == "" {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}
