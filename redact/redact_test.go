package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	r := New([]Secret{{"API_KEY", "sk-abcdef123"}, {"DB", "p@ss\"w\\rd<&>"}, {"PIN", "1234"}, {"EMPTY", ""}})
	tests := []struct{ in, want string }{
		{"no secrets here", "no secrets here"},
		{"key=sk-abcdef123.", "key=[REDACTED:API_KEY]."},
		{"sk-abcdef123sk-abcdef123", "[REDACTED:API_KEY][REDACTED:API_KEY]"},
		{"sk-abcdef12 (almost)", "sk-abcdef12 (almost)"},
		{`pw p@ss"w\rd<&> end`, "pw [REDACTED:DB] end"},
		{`"p@ss\"w\\rd<&>"`, `"[REDACTED:DB]"`},                // JSON-escaped, as JavaScript writes it
		{`"p@ss\"w\\rd\u003c\u0026\u003e"`, `"[REDACTED:DB]"`}, // as Go writes it
		{"pin 1234 is too short to redact", "pin 1234 is too short to redact"},
	}
	for _, tt := range tests {
		if got := string(r.Text(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := r.Skipped(); len(got) != 1 || got[0] != "PIN" {
		t.Errorf("Skipped = %v, want [PIN]", got)
	}
}

func TestBase64AtEveryAlignment(t *testing.T) {
	const secret = "correct-horse-battery-staple"
	r := New([]Secret{{"S", secret}})
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		for prefix := range 5 {
			in := enc.EncodeToString([]byte(strings.Repeat("x", prefix) + secret + "tail"))
			got := string(r.Text(nil, []byte(in)))
			if !strings.Contains(got, "[REDACTED:S]") {
				t.Errorf("base64 with %d bytes before: %q not redacted", prefix, in)
			}
		}
	}
}

func TestLongestAndLeftmost(t *testing.T) {
	r := New([]Secret{{"SHORT", "abcdef"}, {"LONG", "abcdefghij"}, {"MID", "defghijk"}})
	got := string(r.Text(nil, []byte("xxabcdefghijk")))
	if got != "xx[REDACTED:LONG]k" {
		t.Errorf("got %q", got)
	}
}

func TestJSONStaysValid(t *testing.T) {
	const secret = "tok-123456"
	r := New([]Secret{{"TOKEN", secret}, {"PIN", "987654"}, {"QUOTE", `ab"cdef`}})
	tests := []struct{ in, want string }{
		{`{"result":{"text":"the key is tok-123456"}}`, `{"result":{"text":"the key is [REDACTED:TOKEN]"}}`},
		{`{"n":987654,"m":19876543}`, `{"n":"[REDACTED:PIN]","m":"[REDACTED:PIN]"}`},
		// The escape \t followed by "ok-123456" is a tab, not the secret.
		{`{"s":"\tok-123456"}`, `{"s":"\tok-123456"}`},
		{`{"s":"\\tok-123456"}`, `{"s":"\\[REDACTED:TOKEN]"}`},
		// A match that crosses a string's end is not the secret.
		{`{"ab":"cdef"}`, `{"ab":"cdef"}`},
		{`{"s":"ab\"cdef"}`, `{"s":"[REDACTED:QUOTE]"}`},
		{`{"s":"\u0074ok-123456"}`, `{"s":"\u0074ok-123456"}`},
	}
	for _, tt := range tests {
		got := r.JSON(nil, []byte(tt.in))
		if string(got) != tt.want {
			t.Errorf("JSON(%s) = %s, want %s", tt.in, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("JSON(%s) = %s is not valid JSON", tt.in, got)
		}
	}
}

func TestWriterAcrossWrites(t *testing.T) {
	var set Set
	set.Store(New([]Secret{{"K", "secret-value-42"}}))
	var out bytes.Buffer
	w := NewWriter(&out, &set, false)
	for _, part := range []string{"log: secr", "et-val", "ue-42 done\nnext ", "line secret-value-42"} {
		w.Write([]byte(part))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "log: [REDACTED:K] done\nnext line [REDACTED:K]"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	// A line longer than the buffer still has every occurrence redacted.
	out.Reset()
	long := strings.Repeat("a", maxLine-3) + "secret-value-42" + strings.Repeat("b", maxLine)
	for chunk := range slicesOf(long, 4096) {
		w.Write([]byte(chunk))
	}
	w.Flush()
	if strings.Contains(out.String(), "secret-value-42") || !strings.Contains(out.String(), "[REDACTED:K]") || out.Len() != len(long)-15+len("[REDACTED:K]") {
		t.Errorf("long line not redacted right (len %d)", out.Len())
	}
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

func TestNilAndEmpty(t *testing.T) {
	var r *Redactor
	if got := string(r.Text(nil, []byte("x"))); got != "x" {
		t.Errorf("nil Text = %q", got)
	}
	if New(nil) != nil {
		t.Errorf("New(nil) is not nil")
	}
}

// FuzzRedact: whatever the input and the secret, no form of the secret
// survives Text, and JSON keeps valid JSON valid.
func FuzzRedact(f *testing.F) {
	f.Add("tok-123456", `{"a":"tok-123456"}`, 0)
	f.Add(`q"uo\te`, `{"a":"q\"uo\\te"}`, 3)
	f.Add("987654", `[987654, "987654"]`, 1)
	f.Fuzz(func(t *testing.T, secret, text string, shift int) {
		// A secret the marker itself could spell is out of scope, and so is
		// one that is not UTF-8: JSON cannot carry it as it is.
		if len(secret) < MinLen || !utf8.ValidString(secret) || strings.ContainsAny(secret, "[]") || strings.Contains("[REDACTED:S]", secret) {
			return
		}
		r := New([]Secret{{"S", secret}})
		in := text + secret + text
		if out := r.Text(nil, []byte(in)); bytes.Contains(out, []byte(secret)) {
			t.Fatalf("Text(%q) = %q keeps the secret", in, out)
		}
		b64 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", shift&3) + secret))
		if out := r.Text(nil, []byte(b64)); strings.Contains(string(out), b64) {
			t.Fatalf("base64 %q not redacted", b64)
		}
		doc, _ := json.Marshal(map[string]any{"text": text + secret + text, "n": rand.N(10)})
		got := r.JSON(nil, doc)
		if !json.Valid(got) {
			t.Fatalf("JSON(%s) = %s is invalid", doc, got)
		}
		var back map[string]any
		_ = json.Unmarshal(got, &back)
		if s := fmt.Sprint(back["text"]); strings.Contains(s, secret) {
			t.Fatalf("JSON(%s) = %s keeps the secret in the decoded text", doc, got)
		}
		if json.Valid([]byte(text)) {
			if got := r.JSON(nil, []byte(text)); !json.Valid(got) {
				t.Fatalf("JSON(%s) = %s is invalid", text, got)
			}
		}
	})
}
