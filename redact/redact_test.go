package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"slices"
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
		{`"p@ss\"w\\rd\u003C\u0026\u003E"`, `"[REDACTED:DB]"`}, // upper-case hex
		{`"sk-abc\u0064ef123"`, `"[REDACTED:API_KEY]"`},        // any character may be escaped
		{"pin 1234 is too short to redact", "pin 1234 is too short to redact"},
		{"sk-abc%64ef123 and sk-abc%6", "[REDACTED:API_KEY] and sk-abc%6"},
	}
	for _, tt := range tests {
		if got := string(r.Text(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got, want := r.Contains([]byte(tt.in)), tt.in != tt.want; got != want {
			t.Errorf("Contains(%q) = %v, want %v", tt.in, got, want)
		}
	}
	if got := r.Skipped(); !slices.Equal(got, []string{"PIN"}) {
		t.Errorf("Skipped = %v, want [PIN]", got)
	}
}

func TestSkippedOncePerName(t *testing.T) {
	r := New(Targets("DATABASE_URL", "postgresql://app:pw@db/app", []string{"pw"}))
	if got := r.Skipped(); !slices.Equal(got, []string{"DATABASE_URL"}) {
		t.Errorf("Skipped = %v, want [DATABASE_URL] once", got)
	}
	if got := string(r.Text(nil, []byte("postgresql://app:pw@db/app"))); got != "[REDACTED:DATABASE_URL]" {
		t.Errorf("the whole value is still a target: got %q", got)
	}
}

func TestMarkerName(t *testing.T) {
	r := New([]Secret{{`a"b\c d]é`, "secret-value-1"}})
	got := string(r.Text(nil, []byte("x secret-value-1")))
	if want := "x [REDACTED:a_b_c_d___]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	doc := r.JSON(nil, []byte(`{"a":"secret-value-1"}`))
	if !json.Valid(doc) {
		t.Errorf("marker breaks JSON: %s", doc)
	}
}

// TestOverlapping: a match that starts inside another and goes on past it
// is redacted too: no piece of a value is left beside a marker.
func TestOverlapping(t *testing.T) {
	r := New([]Secret{{"SHORT", "abcdef"}, {"LONG", "abcdefghij"}, {"MID", "defghijk"}})
	got := string(r.Text(nil, []byte("xxabcdefghijk-")))
	if got != "xx[REDACTED:LONG]-" {
		t.Errorf("got %q", got)
	}
	// Control: without MID, the k stays.
	r = New([]Secret{{"SHORT", "abcdef"}, {"LONG", "abcdefghij"}})
	if got := string(r.Text(nil, []byte("xxabcdefghijk-"))); got != "xx[REDACTED:LONG]k-" {
		t.Errorf("got %q", got)
	}
}

func TestJSONStaysValid(t *testing.T) {
	r := New([]Secret{{"TOKEN", "tok-123456"}, {"PIN", "987654"}, {"QUOTE", `ab"cdef`}, {"CROSS", `x","y":"z`}, {"ARR", `1,"abc`}})
	tests := []struct{ in, want string }{
		{`{"result":{"text":"the key is tok-123456"}}`, `{"result":{"text":"the key is [REDACTED:TOKEN]"}}`},
		{`{"n":987654,"m":19876543}`, `{"n":"[REDACTED:PIN]","m":"[REDACTED:PIN]"}`},
		// A match beginning inside an escape takes the whole escape: the
		// text is still JSON, and nothing of the value stays.
		{`{"s":"\tok-123456"}`, `{"s":"[REDACTED:TOKEN]"}`},
		{`{"s":"\u0074ok-123456"}`, `{"s":"[REDACTED:TOKEN]"}`},
		{`{"s":"a\\tok-123456"}`, `{"s":"a[REDACTED:TOKEN]"}`}, // \\t is \t one level down
		{`{"s":"ab\"cdef"}`, `{"s":"[REDACTED:QUOTE]"}`},
		// Not valid JSON: redacted as text.
		{`{"s":"tok-123456"`, `{"s":"[REDACTED:TOKEN]"`},
		// A match across strings replaces every token it touches.
		{`{"a":"x","y":"z"}`, `{"a":"[REDACTED:CROSS]","[REDACTED:CROSS]":"[REDACTED:CROSS]"}`},
		{`[1,"abc"]`, `["[REDACTED:ARR]","[REDACTED:ARR]"]`},
		// Control: none of them alone.
		{`{"a":"x","b":"z","n":1}`, `{"a":"x","b":"z","n":1}`},
		// Key order is kept, keys are redacted in place.
		{`{"z":1,"tok-123456":2,"a":3}`, `{"z":1,"[REDACTED:TOKEN]":2,"a":3}`},
	}
	for _, tt := range tests {
		got := r.JSON(nil, []byte(tt.in))
		if string(got) != tt.want {
			t.Errorf("JSON(%s) = %s, want %s", tt.in, got, tt.want)
		}
		if json.Valid([]byte(tt.in)) && !json.Valid(got) {
			t.Errorf("JSON(%s) = %s is not valid JSON", tt.in, got)
		}
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		value string
		refs  []string
		want  []string
	}{
		{"postgresql://reporting:s3cr%40t-pw@db:5432/reporting", []string{"s3cr%40t-pw"},
			[]string{"postgresql://reporting:s3cr%40t-pw@db:5432/reporting", "s3cr%40t-pw", "s3cr@t-pw", "reporting:s3cr%40t-pw", "reporting:s3cr@t-pw"}},
		// The user is the reference: the userinfo is still a target.
		{"redis://svc-user-42:fixed@cache:6379", []string{"svc-user-42"},
			[]string{"redis://svc-user-42:fixed@cache:6379", "svc-user-42", "svc-user-42:fixed", "fixed"}},
		// A raw '/' and '@' in a substituted password.
		{"postgresql://app:pa/ss@rd@db/app", []string{"pa/ss@rd"},
			[]string{"postgresql://app:pa/ss@rd@db/app", "pa/ss@rd", "app:pa/ss@rd"}},
		// The reference is not in the userinfo: nothing more.
		{"https://user:pass@host/?key=api-key-123", []string{"api-key-123"},
			[]string{"https://user:pass@host/?key=api-key-123", "api-key-123"}},
		{"Bearer tok-123456", []string{"tok-123456"}, []string{"Bearer tok-123456", "tok-123456"}},
	}
	for _, tt := range tests {
		var got []string
		for _, s := range Targets("V", tt.value, tt.refs) {
			if s.Name != "V" {
				t.Errorf("%q: name %q", tt.value, s.Name)
			}
			got = append(got, s.Value)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Targets(%q, %q) =\n%q, want\n%q", tt.value, tt.refs, got, tt.want)
		}
	}
}

// TestURLPassword: the password of a URL value, printed alone or as HTTP
// basic auth, is redacted; with the whole value as the only target, the
// control, it is not.
func TestURLPassword(t *testing.T) {
	const pw = "s3cr%40t-pw"
	url := "postgresql://reporting:" + pw + "@db:5432/reporting"
	basic := base64.StdEncoding.EncodeToString([]byte("reporting:s3cr@t-pw"))
	inputs := []string{"password s3cr@t-pw", "password " + pw, "Authorization: Basic " + basic}
	whole := New([]Secret{{"DATABASE_URL", url}})
	r := New(Targets("DATABASE_URL", url, []string{pw}))
	for _, in := range inputs {
		if whole.Contains([]byte(in)) {
			t.Errorf("control: the whole URL alone finds %q", in)
		}
		if got := string(r.Text(nil, []byte(in))); !strings.HasSuffix(got, " [REDACTED:DATABASE_URL]") {
			t.Errorf("Text(%q) = %q", in, got)
		}
	}
}

// TestNoFragment: nothing beside a marker still encodes a piece of the
// value: not the base64 characters of a partial group, not padding, not a
// piece of an escape sequence.
func TestNoFragment(t *testing.T) {
	const v = "secret-value!" // 13 bytes: base64 ends with a partial group and "="
	r := New([]Secret{{"S", v}})
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct{ in, want string }{
		{b64(v), "[REDACTED:S]"},
		{"x " + b64(v) + " y", "x [REDACTED:S] y"},
		{b64("~" + v), b64("~")[:1] + "[REDACTED:S]"},
		{b64("~~" + v + "~"), b64("~~")[:2] + "[REDACTED:S]" + b64("~~" + v + "~")[len(b64("~~"+v+"~"))-4:]}, // "~" alone
		{`"secret-value\u0021"`, `"[REDACTED:S]"`},
		{`"secret-value\u0021\u0021"`, `"[REDACTED:S]\u0021"`},
	}
	for _, tt := range tests {
		if got := string(r.Text(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestJoinedByEscapes: a value that escapes break up, by line breaks (as in
// wrapped base64) or beside them, is found although the text holds it
// nowhere as it is: the views such escapes need are built, few as the bytes
// they touch are. The control rows differ by a byte no value holds.
func TestJoinedByEscapes(t *testing.T) {
	const v = "split-secret-1" // base64: c3BsaXQtc2VjcmV0LTE=
	r := New([]Secret{{"S", v}})
	tests := []struct{ in, want string }{
		{`{"t":"split-se\ncret-1"}`, `{"t":"[REDACTED:S]"}`},
		{`{"t":"split-se\r\ncret-1"}`, `{"t":"[REDACTED:S]"}`},
		{`{"t":"split-se\u000acret-1"}`, `{"t":"[REDACTED:S]"}`},
		{`{"t":"split-se\n\ncret-1"}`, `{"t":"[REDACTED:S]"}`},
		{"log split-se\n" + `\n` + "cret-1", "log [REDACTED:S]"},
		{"GET /x?q=split-se%0Acret-1", "GET /x?q=[REDACTED:S]"},
		{"GET /x?q=split%2D\r\nsecret-1 ok", "GET /x?q=[REDACTED:S] ok"},
		{"GET /x?q=s%70\nlit-secret-1", "GET /x?q=[REDACTED:S]"},
		{`{"t":"split-se%0A\rcret-1"}`, `{"t":"[REDACTED:S]"}`},
		{`{"t":"split\u002d\nsecret-1"}`, `{"t":"[REDACTED:S]"}`},
		{`{"t":"c3BsaXQtc2Vj\ncmV0LTE="}`, `{"t":"[REDACTED:S]"}`},
		{`{"t":"c3BsaXQtc2Vj\\ncmV0LTE="}`, `{"t":"[REDACTED:S]"}`},
		{`{"t":"split-se.\ncret-1"}`, `{"t":"split-se.\ncret-1"}`},
		{"GET /x?q=split%2D.\nsecret-1", "GET /x?q=split%2D.\nsecret-1"},
	}
	for _, tt := range tests {
		if s, _ := r.next([]byte(tt.in), 0); s >= 0 {
			t.Errorf("control: %q holds the value as it is", tt.in)
		}
		if got := string(r.Text(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := string(r.JSON(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("JSON(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidJSON(t *testing.T) {
	for _, s := range []string{
		`{}`, `[]`, ` {"a":[1,2,{"b":null}],"c":"x\u00e4\n"} `, `{"a":}`, `[1,]`, `"\x"`, `01`, `-0.5e+3`,
		`{"a" 1}`, `[`, `"abc`, "\"\x01\"", `{"a":1}}`, `tru`, `[1 2]`, ``, ` `, `"\ud800"`, `1.`, `1e`, `-`,
		`{"a":1,}`, `{,}`, `[true,false,null]`, "\"\xff\"", `{"a":{"b":[{}]}}`, `"` + strings.Repeat("x", 100) + `\"y"`,
		strings.Repeat("[", maxNest) + strings.Repeat("]", maxNest), strings.Repeat("[", maxNest+1) + strings.Repeat("]", maxNest+1),
	} {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.40q) = %v, want %v", s, got, want)
		}
	}
}

func TestNilAndEmpty(t *testing.T) {
	var r *Redactor
	if got := string(r.Text(nil, []byte("x"))); got != "x" {
		t.Errorf("nil Text = %q", got)
	}
	if got := string(r.JSON(nil, []byte("x"))); got != "x" || r.Contains([]byte("x")) || r.Skipped() != nil {
		t.Errorf("nil JSON = %q", got)
	}
	if New(nil) != nil {
		t.Errorf("New(nil) is not nil")
	}
}

// FuzzRedact: whatever the secret and the text around it, no form of the
// secret survives Text, JSON or a Writer fed in random pieces; JSON keeps
// valid JSON valid; validJSON agrees with json.Valid.
func FuzzRedact(f *testing.F) {
	f.Add("tok-123456", `{"a":"tok-123456"}`, 0)
	f.Add(`q"uo\te`, `{"a":"q\"uo\\te"}`, 3)
	f.Add("987654", `[987654, "987654"]`, 1)
	f.Add("pässwörd-😀", `{"a":"x"}`, 4)
	f.Add("line-one\nline-two", "x", 21)
	for i := range encoders {
		f.Add("sk-live-0123456789", "text around ", i)
	}
	f.Fuzz(func(t *testing.T, secret, text string, choice int) {
		if got, want := validJSON([]byte(text)), json.Valid([]byte(text)); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", text, got, want)
		}
		// A secret the marker itself could spell is out of scope, and so is
		// one that is not UTF-8: JSON cannot carry it as it is.
		if len(secret) < MinLen || !utf8.ValidString(secret) || strings.ContainsAny(secret, "[]") || strings.Contains("[REDACTED:S]", secret) {
			return
		}
		r := New([]Secret{{"S", secret}})
		choice &= 0xffff
		enc := encoders[choice%len(encoders)]
		shift := choice / len(encoders) % 6
		form := enc.encode(secret, shift)
		leak := func(out string) bool { return enc.leaks(out, secret) }
		// Text around the secret may hold its pieces on its own: then the
		// check cannot tell, and the case is out of scope.
		if leak(text + " " + text) {
			return
		}
		in := text + " " + form + " " + text
		if !leak(in) {
			t.Fatalf("control: %s form %q of %q not seen", enc.name, form, secret)
		}
		if out := r.Text(nil, []byte(in)); leak(string(out)) {
			t.Fatalf("Text(%q) = %q keeps the %s form", in, out, enc.name)
		}
		var w bytes.Buffer
		wr := NewWriter(&w, setOf(r), false)
		rng := rand.New(rand.NewPCG(uint64(len(in)), uint64(choice)))
		for rest := []byte(in); len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(8))
			wr.Write(rest[:n])
			rest = rest[n:]
			if rng.IntN(4) == 0 {
				wr.FlushIdle()
			}
		}
		wr.Flush()
		// A Writer goes line by line: the lines of a value shorter than
		// MinLen are not targets of their own.
		short := false
		for line := range strings.Lines(secret) {
			short = short || len(strings.TrimRight(line, "\r\n")) < MinLen
		}
		if !short && leak(w.String()) {
			t.Fatalf("Writer(%q) = %q keeps the %s form", in, w.String(), enc.name)
		}
		doc, _ := json.Marshal(map[string]any{"text": in, "n": 7})
		got := r.JSON(nil, doc)
		if !json.Valid(got) {
			t.Fatalf("JSON(%s) = %s is invalid", doc, got)
		}
		var back struct{ Text string }
		_ = json.Unmarshal(got, &back)
		if leak(back.Text) {
			t.Fatalf("JSON(%s) = %s keeps the %s form in the decoded text", doc, got, enc.name)
		}
		if json.Valid([]byte(text)) {
			if got := r.JSON(nil, []byte(text)); !json.Valid(got) {
				t.Fatalf("JSON(%s) = %s is invalid", text, got)
			}
		}
	})
}

func setOf(r *Redactor) *Set {
	var s Set
	s.Store(r)
	return &s
}

// TestLongEscaped: in a long text full of escapes, the forms of a secret
// at many places map back to exactly their bytes.
func TestLongEscaped(t *testing.T) {
	const v = "pässwörd-😀-secret"
	r := New([]Secret{{"S", v}})
	forms := []string{v, pyJSON(v, "%04x"), phpJSON(v), goJSON(goJSON(v, true), false), b64(base64.StdEncoding)(v, 0)}
	var in, want strings.Builder
	for i := range 3000 {
		filler := strings.Repeat(`text \n with \"escapes\" \u00e4 and 100% \t`, i%7)
		in.WriteString(filler)
		want.WriteString(filler)
		f := forms[i%len(forms)]
		in.WriteString(" " + f + " ")
		want.WriteString(" " + string(r.Text(nil, []byte(f))) + " ")
	}
	if !strings.Contains(want.String(), "[REDACTED:S]") {
		t.Fatal("no form redacted alone")
	}
	if got := string(r.Text(nil, []byte(in.String()))); got != want.String() {
		i := 0
		for i < len(got) && i < len(want.String()) && got[i] == want.String()[i] {
			i++
		}
		t.Errorf("differs at %d: got %.80q, want %.80q", i, got[i:], want.String()[i:])
	}
}

// TestMemory: a 16 MiB line dense with escapes costs a few times its size,
// not bytes per byte for every view.
func TestMemory(t *testing.T) {
	r := New([]Secret{{"S", "secret-value-1"}})
	line := []byte(strings.Repeat(`ab\ncd\u00e4`, 16<<20/12) + `secret-value-1`)
	dst := make([]byte, 0, len(line))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := r.Text(dst, line)
	runtime.ReadMemStats(&after)
	if !bytes.HasSuffix(out, []byte("[REDACTED:S]")) {
		t.Fatal("not redacted")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 3*uint64(len(line)) {
		t.Errorf("%d MiB allocated for a line of %d MiB", n>>20, len(line)>>20)
	} else {
		t.Logf("%d MiB allocated for a line of %d MiB", n>>20, len(line)>>20)
	}
}
