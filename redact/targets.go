package redact

import (
	"bytes"
	"slices"
	"strings"
)

// Targets returns the redaction targets of one environment variable whose
// configured value held references, all under the variable's name, for New:
//   - the whole value;
//   - each reference's resolved value (refs) on its own, and also
//     percent-decoded when it is percent-encoded text;
//   - when the value is a URL whose userinfo holds (part of) a reference,
//     the userinfo user:password as written and percent-decoded, and the
//     password as written and decoded: a server prints the password alone,
//     or base64 of user:password (HTTP basic auth).
//
// Targets shorter than MinLen stay in the result: New names them in Skipped.
func Targets(name, value string, refs []string) []Secret {
	var vals []string
	add := func(v string) {
		if v != "" && !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	add(value)
	for _, ref := range refs {
		add(ref)
		add(unescape(ref))
	}
	if lo, hi, ok := userinfo(value, refs); ok && holdsRef(value, lo, hi, refs) {
		ui := value[lo:hi]
		add(ui)
		add(unescape(ui))
		if _, pw, ok := strings.Cut(ui, ":"); ok {
			add(pw)
			add(unescape(pw))
		}
	}
	out := make([]Secret, len(vals))
	for i, v := range vals {
		out[i] = Secret{Name: name, Value: v}
	}
	return out
}

// userinfo returns the bounds of the userinfo of the URL v, if it has one.
// A reference value substituted as it is may hold a raw '/' or '@': a
// reference followed by '@' ends the userinfo there.
func userinfo(v string, refs []string) (lo, hi int, ok bool) {
	i := strings.Index(v, "://")
	if i <= 0 {
		return 0, 0, false
	}
	lo = i + len("://")
	for _, ref := range refs {
		for j := lo; ref != ""; {
			k := strings.Index(v[j:], ref)
			if k < 0 {
				break
			}
			if end := j + k + len(ref); end < len(v) && v[end] == '@' {
				hi = max(hi, end)
			}
			j += k + 1
		}
	}
	if hi > 0 {
		return lo, hi, true
	}
	rest := v[lo:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return 0, 0, false
	}
	return lo, lo + at, true
}

// holdsRef reports whether a reference's value overlaps v[lo:hi].
func holdsRef(v string, lo, hi int, refs []string) bool {
	for _, ref := range refs {
		if ref == "" {
			continue
		}
		for i := 0; ; {
			j := strings.Index(v[i:], ref)
			if j < 0 {
				break
			}
			if i+j < hi && i+j+len(ref) > lo {
				return true
			}
			i += j + 1
		}
	}
	return false
}

// unescape decodes every %XX of s, leaving a '%' that begins none as it is.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	return string(appendUnescaped(nil, []byte(s)))
}

// appendUnescaped appends b to dst with every %XX decoded.
func appendUnescaped(dst, b []byte) []byte {
	for {
		i := bytes.IndexByte(b, '%')
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		var n int
		if dst, n = decode(percent, dst, b, i); n == 0 {
			dst, n = append(dst, '%'), 1
		}
		b = b[i+n:]
	}
}
