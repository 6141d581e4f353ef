package remote

import (
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Header
		err  bool
	}{
		{in: "Authorization: Bearer $<TOKEN>", want: Header{"Authorization", "Bearer $<TOKEN>"}},
		{in: "X-Api-Key:$<vault:secret/x#key>", want: Header{"X-Api-Key", "$<vault:secret/x#key>"}},
		{in: "  X-A :  a: b  ", want: Header{"X-A", "a: b"}}, // the value may hold a colon
		{in: "NoColon", err: true},
	} {
		got, err := ParseHeader(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseHeader(%q) = %+v, %v; want %+v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add("Authorization: Bearer $<TOKEN>")
	f.Add("a:")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			return
		}
		if strings.Contains(h.Name, ":") {
			t.Fatalf("%q: name %q holds a colon", s, h.Name)
		}
		if again, err := ParseHeader(h.Name + ": " + h.Value); err != nil || again != h {
			t.Fatalf("%q: %+v does not read back: %+v, %v", s, h, again, err)
		}
	})
}

func TestCheck(t *testing.T) {
	oauth := &OAuthConfig{ClientID: "c", ClientSecret: "$<SECRET>"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // in the error; "" for none
	}{
		{"headers", Config{URL: "https://mcp.example.com/mcp", Headers: []Header{{"Authorization", "Bearer $<T>"}}}, ""},
		{"URL reference", Config{URL: "https://mcp.example.com/mcp?key=$<KEY>"}, ""},
		{"URL whole reference", Config{URL: "$<vault:secret/mcp#url>"}, ""},
		{"not http", Config{URL: "ftp://example.com/mcp"}, "http:// or https://"},
		{"no host", Config{URL: "https:///mcp"}, "http:// or https://"},
		{"bad name", Config{URL: "https://a/mcp", Headers: []Header{{"X A", "1"}}}, "not a header name"},
		{"own header", Config{URL: "https://a/mcp", Headers: []Header{{"mcp-protocol-version", "1"}}}, "set by mcp-secrets itself"},
		{"twice", Config{URL: "https://a/mcp", Headers: []Header{{"X-A", "1"}, {"x-a", "2"}}}, "given twice"},
		{"line break", Config{URL: "https://a/mcp", Headers: []Header{{"X-A", "1\r\nX-B: 2"}}}, "line break"},
		{"provider credential", Config{URL: "https://a/mcp", Headers: []Header{{"VAULT_TOKEN", "$<T>"}}}, "provider credential"},
		{"oauth", Config{URL: "https://a/mcp", OAuth: oauth}, ""},
		{"oauth and Authorization", Config{URL: "https://a/mcp", Headers: []Header{{"Authorization", "x"}}, OAuth: oauth}, "OAuth client credentials set it"},
		{"oauth literal secret", Config{URL: "https://a/mcp", OAuth: &OAuthConfig{ClientID: "c", ClientSecret: "s3cr3t"}}, "give a reference"},
		{"oauth no id", Config{URL: "https://a/mcp", OAuth: &OAuthConfig{ClientSecret: "$<S>"}}, "go together"},
		{"oauth http token URL", Config{URL: "https://a/mcp", OAuth: &OAuthConfig{ClientID: "c", ClientSecret: "$<S>", TokenURL: "http://as.example.com/token"}}, "unencrypted"},
		{"oauth loopback token URL", Config{URL: "https://a/mcp", OAuth: &OAuthConfig{ClientID: "c", ClientSecret: "$<S>", TokenURL: "http://127.0.0.1:8080/token"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Check() = %v; want %q", err, tc.want)
			}
		})
	}
}

func TestBearerParams(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want map[string]string
	}{
		{[]string{`Bearer resource_metadata="https://a/.well-known/oauth-protected-resource/mcp"`}, map[string]string{"resource_metadata": "https://a/.well-known/oauth-protected-resource/mcp"}},
		{[]string{`Basic realm="x", Bearer error="invalid_token", Resource_Metadata="u"`}, map[string]string{"error": "invalid_token", "resource_metadata": "u"}},
		{[]string{`Basic realm="x"`, `bearer realm="a\"b", scope=mcp`}, map[string]string{"realm": `a"b`, "scope": "mcp"}},
		{[]string{`Bearer abc==`}, map[string]string{}},
		{[]string{`Negotiate`}, nil},
		{nil, nil},
	} {
		got := bearerParams(tc.in)
		if (got == nil) != (tc.want == nil) || !maps.Equal(got, tc.want) {
			t.Errorf("bearerParams(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzBearerParams(f *testing.F) {
	f.Add(`Basic realm="x", Bearer error="invalid_token", resource_metadata="u"`)
	f.Add(`Bearer a="\`)
	f.Add(`Bearer abc==, Bearer x=y`)
	f.Fuzz(func(t *testing.T, h string) {
		done := make(chan struct{})
		go func() { bearerParams([]string{h}); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("bearerParams(%q) does not end", h)
		}
	})
}

func TestEventReader(t *testing.T) {
	stream := ": keep-alive\n\n" +
		"id: 1\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n" +
		"retry: 1500\n\n" +
		"data: " + strings.Repeat("x", 100) + "\n\n" +
		"id: 2\ndata: last"
	er := newEventReader(strings.NewReader(stream), 50)
	want := []event{
		{id: "1", name: "message", data: []byte("{\"a\":\n1}")},
		{retry: 1500 * time.Millisecond, data: []byte{}},
		{tooLong: true, data: []byte(strings.Repeat("x", 50))}, // its head, for the id of the reply it was
	}
	for i, w := range want {
		ev, err := er.next()
		if err != nil || ev.id != w.id || ev.name != w.name || ev.retry != w.retry || ev.tooLong != w.tooLong || string(ev.data) != string(w.data) {
			t.Fatalf("event %d = %+v, %v; want %+v", i, ev, err, w)
		}
	}
	// The stream ended inside the last event: it is lost.
	if ev, err := er.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %+v, %v; want EOF", ev, err)
	}
}

func FuzzEventReader(f *testing.F) {
	f.Add("id: 1\ndata: {}\n\n", 10)
	f.Add("data: a\r\ndata: b\r\n\r\n: c\n\nretry: 9\n\n", 1)
	f.Fuzz(func(t *testing.T, stream string, limit int) {
		limit = 1 + abs(limit)%1000
		er := newEventReader(strings.NewReader(stream), limit)
		for n := 0; ; n++ {
			ev, err := er.next()
			if err != nil {
				return
			}
			if !ev.tooLong && len(ev.data) > limit || len(ev.data) > max(tooLongHead, limit) {
				t.Fatalf("an event of %d bytes past the bound %d (tooLong %v)", len(ev.data), limit, ev.tooLong)
			}
			if n > len(stream) {
				t.Fatalf("more events than bytes")
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{`"eu-west-1"`, `" padded "`, `"é"`, `42`, `true`, `1e3`, `9007199254740993`, `{"a":1}`, `"=?base64?x?="`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, ok := headerValue(raw)
		if !ok {
			return
		}
		if !plainHeader(v) && !strings.HasPrefix(v, "=?base64?") {
			t.Fatalf("%q: header value %q cannot be sent", raw, v)
		}
		for i := range len(v) {
			if v[i] < 0x20 || v[i] > 0x7e {
				t.Fatalf("%q: header value %q holds byte %#x", raw, v, v[i])
			}
		}
		if enc, ok := strings.CutPrefix(v, "=?base64?"); ok && strings.HasSuffix(enc, "?=") {
			if _, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(enc, "?=")); err != nil {
				t.Fatalf("%q: %q does not decode: %v", raw, v, err)
			}
		}
	})
}
