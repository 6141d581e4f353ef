package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"
)

// An encoder writes a secret the way a real one does; leaks undoes it on
// an output and reports whether the secret is still there.
type encoder struct {
	name   string
	encode func(s string, variant int) string
	check  func(out, s string) bool // on one JSON level of the output
}

// leaks looks for the secret at every JSON level of out: a form may sit in
// JSON text inside a JSON string.
func (e encoder) leaks(out, s string) bool {
	for range maxDepth + 1 {
		if e.check(out, s) {
			return true
		}
		u := unescapeAll(out)
		if u == out {
			break
		}
		out = u
	}
	return false
}

var encoders = []encoder{
	{"plain", func(s string, _ int) string { return s }, contains},
	{"go-json", func(s string, _ int) string { return goJSON(s, true) }, contains},
	{"go-json-nohtml", func(s string, _ int) string { return goJSON(s, false) }, contains},
	{"python", func(s string, _ int) string { return pyJSON(s, "%04x") }, contains},
	{"python-upper-hex", func(s string, _ int) string { return pyJSON(s, "%04X") }, contains},
	{"php", func(s string, _ int) string { return phpJSON(s) }, contains},
	{"json-in-json", func(s string, _ int) string { return goJSON(`{"text":`+goJSON(s, true)+`}`, true) }, contains},
	{"python-in-json", func(s string, _ int) string { return goJSON(`{"text":`+pyJSON(s, "%04x")+`}`, false) }, contains},
	{"base64-std", b64(base64.StdEncoding), base64Leak},
	{"base64-url", b64(base64.URLEncoding), base64Leak},
	{"base64-raw-std", b64(base64.RawStdEncoding), base64Leak},
	{"base64-raw-url", b64(base64.RawURLEncoding), base64Leak},
	{"base64-wrapped", wrapped, wrappedLeak},
	{"query-escape", func(s string, _ int) string { return "https://x.test/cb?token=" + url.QueryEscape(s) + "&x=1" }, queryLeak},
	{"path-escape", func(s string, _ int) string { return "https://x.test/files/" + url.PathEscape(s) + "/x" }, pathLeak},
	{"base64-in-php-json", func(s string, v int) string { return phpJSON(b64(base64.StdEncoding)(s, v)) }, base64Leak},
	{"query-in-php-json", func(s string, _ int) string { return phpJSON("https://x.test/cb?token=" + url.QueryEscape(s)) }, queryLeak},
	{"wrapped-in-json", func(s string, v int) string { return goJSON(wrapped(s, v), true) }, wrappedLeak},
}

var secrets = []struct{ name, value string }{
	{"ascii", "correct-horse-battery-staple"},
	{"a-umlaut", "pässwörd-äöü-42"},
	{"euro", "price-€-secret-9"},
	{"emoji", "key-😀-secret-🔑"},
	{"quote", `quo"te-se"cret`},
	{"backslash", `back\slash\secret`},
	{"slash", "sla/sh/secret/key"},
	{"space", "open sesame secret"},
	{"pem", "-----BEGIN TEST KEY-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAASC\r\nAUAwggE8AgEAAkEAq7BFUpkGp3+XQiTv\n-----END TEST KEY-----\n"},
}

// TestCorpus: every form of every secret, on a line of text and in a JSON
// tool result, is gone after Text, JSON and a Writer in either mode; JSON
// stays valid. A control proves each input held the form.
func TestCorpus(t *testing.T) {
	for _, sec := range secrets {
		r := New([]Secret{{"S", sec.value}})
		for _, enc := range encoders {
			for variant := range 6 {
				form := enc.encode(sec.value, variant)
				ins := map[string]string{
					"line": "before " + form + " after",
					"tool-result": `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":` +
						goJSON("before "+form+" after", false) + `}]}}`,
				}
				for where, in := range ins {
					name := fmt.Sprintf("%s/%s/%d/%s", sec.name, enc.name, variant, where)
					if !enc.leaks(in, sec.value) {
						t.Errorf("%s: control: %q does not hold the secret", name, in)
						continue
					}
					if out := string(r.Text(nil, []byte(in))); enc.leaks(out, sec.value) {
						t.Errorf("%s: Text(%q) = %q", name, in, out)
					}
					out := r.JSON(nil, []byte(in))
					if enc.leaks(string(out), sec.value) {
						t.Errorf("%s: JSON(%q) = %q", name, in, out)
					}
					if json.Valid([]byte(in)) && !json.Valid(out) {
						t.Errorf("%s: JSON(%s) = %s is not valid", name, in, out)
					}
					for _, jsonLines := range []bool{false, true} {
						var buf bytes.Buffer
						w := NewWriter(&buf, setOf(r), jsonLines)
						for chunk := range slicesOf(in, 5) {
							w.Write([]byte(chunk))
						}
						w.Flush()
						if enc.leaks(buf.String(), sec.value) {
							t.Errorf("%s: Writer(%q, json %v) = %q", name, in, jsonLines, buf.String())
						}
					}
				}
			}
		}
	}
}

// TestBasicAuth: base64 of user:password, the password a reference inside
// a URL value, in every alignment and alphabet.
func TestBasicAuth(t *testing.T) {
	for _, sec := range secrets {
		userinfo := "reporting:" + sec.value
		r := New(Targets("DATABASE_URL", "postgresql://"+userinfo+"@db:5432/reporting", []string{sec.value}))
		for _, enc := range encoders {
			if !strings.HasPrefix(enc.name, "base64-") || strings.Contains(enc.name, "-in-") {
				continue
			}
			for variant := range 6 {
				in := "Authorization: Basic " + enc.encode(userinfo, variant)
				if !enc.leaks(in, userinfo) {
					t.Errorf("%s/%s/%d: control: %q does not hold it", sec.name, enc.name, variant, in)
				}
				if out := string(r.Text(nil, []byte(in))); enc.leaks(out, userinfo) {
					t.Errorf("%s/%s/%d: Text(%q) = %q", sec.name, enc.name, variant, in, out)
				}
			}
		}
	}
}

func contains(out, s string) bool { return strings.Contains(out, s) }

func goJSON(s string, html bool) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(html)
	_ = e.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// pyJSON is Python's json.dumps with ensure_ascii: \uXXXX for every
// character outside ASCII, surrogate pairs beyond the BMP.
func pyJSON(s, hex string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r > 0xFFFF:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u`+hex+`\u`+hex, r1, r2)
			case r < 0x20 || r > 0x7e:
				fmt.Fprintf(&b, `\u`+hex, r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// phpJSON is PHP's json_encode: \uXXXX outside ASCII, and \/.
func phpJSON(s string) string { return strings.ReplaceAll(pyJSON(s, "%04x"), "/", `\/`) }

// b64 encodes the secret after variant bytes of other data.
func b64(enc *base64.Encoding) func(string, int) string {
	return func(s string, variant int) string {
		return enc.EncodeToString([]byte(strings.Repeat(filler(s), variant) + s))
	}
}

// filler is a byte the secret does not hold, so that base64Leak does not
// take the data around the secret for a piece of it.
func filler(s string) string {
	for _, c := range "~^`|#" {
		if !strings.ContainsRune(s, c) {
			return string(c)
		}
	}
	return "\x00"
}

// wrapped is base64 wrapped at 64 or 76 columns, LF or CRLF, the secret
// starting in the first line and ending in a later one.
func wrapped(s string, variant int) string {
	width, eol := 64, "\n"
	if variant%2 == 1 {
		width = 76
	}
	if variant/2%2 == 1 {
		eol = "\r\n"
	}
	enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(filler(s), width*3/4-4+variant) + s))
	var b strings.Builder
	for len(enc) > width {
		b.WriteString(enc[:width] + eol)
		enc = enc[width:]
	}
	b.WriteString(enc)
	return b.String()
}

// base64Leak reports whether four base64 characters of out, in either
// alphabet, decode to three bytes of the secret.
func base64Leak(out, s string) bool {
	for i := 0; i+4 <= len(out); i++ {
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(out[i : i+4]); err == nil && strings.Contains(s, string(b)) {
				return true
			}
		}
	}
	return false
}

func wrappedLeak(out, s string) bool {
	return base64Leak(strings.NewReplacer("\r", "", "\n", "").Replace(out), s)
}

func queryLeak(out, s string) bool {
	return contains(out, s) || contains(percentDecode(strings.ReplaceAll(out, "+", " ")), s) || contains(percentDecode(out), s)
}

func pathLeak(out, s string) bool { return contains(out, s) || contains(percentDecode(out), s) }

var pctRe = regexp.MustCompile(`%[0-9a-fA-F]{2}`)

func percentDecode(s string) string {
	return pctRe.ReplaceAllStringFunc(s, func(m string) string {
		b, _ := url.PathUnescape(m)
		return b
	})
}

var escRe = regexp.MustCompile(`\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|["\\/bfnrt])`)

// unescapeAll decodes every JSON escape sequence of s, wherever it is.
func unescapeAll(s string) string {
	return escRe.ReplaceAllStringFunc(s, func(m string) string {
		var out string
		_ = json.Unmarshal([]byte(`"`+m+`"`), &out)
		return out
	})
}

func slicesOf(s string, n int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}
