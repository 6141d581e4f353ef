package jsonrpc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	big := `"` + strings.Repeat(`x\"{[`, 1000) + `"`
	tests := []struct {
		in         string
		id, method string
		kind       string
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"a":[1,{"b":"}"}]}}`, "1", "initialize", "request"},
		{`{"method":"notifications/initialized","jsonrpc":"2.0"}`, "", "notifications/initialized", "notification"},
		{`{"jsonrpc":"2.0","result":{"content":[{"text":` + big + `}]},"id":"abc"}`, `"abc"`, "", "response"},
		{` { "id" : null , "error" : {"code":-1} } `, "null", "", "response"},
		{`{"id":-1.5e3,"result":{}}`, "-1.5e3", "", "response"},
		{`{"id":"a\"b","result":true}`, `"a\"b"`, "", "response"},
		{`{}`, "", "", "other"},
	}
	for _, tt := range tests {
		m, err := Scan([]byte(tt.in))
		if err != nil {
			t.Errorf("Scan(%.60s): %v", tt.in, err)
			continue
		}
		kind := "other"
		switch {
		case m.IsRequest():
			kind = "request"
		case m.IsNotification():
			kind = "notification"
		case m.IsResponse():
			kind = "response"
		}
		if string(m.ID) != tt.id || m.Method != tt.method || kind != tt.kind {
			t.Errorf("Scan(%.60s) = id %q method %q %s, want %q %q %s", tt.in, m.ID, m.Method, kind, tt.id, tt.method, tt.kind)
		}
		if m.ID != nil && string([]byte(tt.in)[m.IDStart:m.IDEnd]) != tt.id {
			t.Errorf("id span %d:%d wrong", m.IDStart, m.IDEnd)
		}
	}
	for _, bad := range []string{``, `[]`, `{"id":1`, `{"id" 1}`, `{"a":"unterminated}`, `{"a":[1,2}`, `nope`} {
		if _, err := Scan([]byte(bad)); err == nil {
			t.Errorf("Scan(%q) accepted", bad)
		}
	}
}

func TestSpliceID(t *testing.T) {
	line := []byte(`{"jsonrpc":"2.0","id":42,"method":"roots/list"}` + "\n")
	m, _ := Scan(line)
	if got := string(SpliceID(line, m, []byte(`"x-1"`))); got != `{"jsonrpc":"2.0","id":"x-1","method":"roots/list"}`+"\n" {
		t.Errorf("spliceID = %s", got)
	}
}

// FuzzScan: never panics, and on JSON objects that encoding/json
// accepts, finds the same id and method.
func FuzzScan(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`)
	f.Add(`{"id":"a\\\"","result":{"x":[1,"]"]}}`)
	f.Add(`{"method":"m","params":[{"a":"}"}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		m, err := Scan([]byte(in))
		var ref struct {
			ID     json.RawMessage `json:"id"`
			Method any             `json:"method"`
		}
		if json.Unmarshal([]byte(in), &ref) != nil || !bytes.HasPrefix(bytes.TrimSpace([]byte(in)), []byte("{")) || dupKeys(in) {
			return
		}
		if err != nil {
			t.Fatalf("Scan(%q): %v, but it is a JSON object", in, err)
		}
		if !bytes.Equal(bytes.TrimSpace(m.ID), bytes.TrimSpace(ref.ID)) && !(m.ID == nil && string(ref.ID) == "null") {
			t.Fatalf("id %q, want %q", m.ID, ref.ID)
		}
		if s, ok := ref.Method.(string); ok && !strings.Contains(in, `\`) && m.Method != s {
			t.Fatalf("method %q, want %q", m.Method, s)
		}
		// A message cut anywhere names its own id, or none.
		for cut := range len(in) {
			if id := LeadingID([]byte(in[:cut])); id != nil && !bytes.Equal(id, m.ID) {
				t.Fatalf("LeadingID(%q) = %q, want %q or nothing", in[:cut], id, m.ID)
			}
		}
	})
}

func TestLeadingID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"jsonrpc":"2.0","id":7,"result":{"content":[{"text":"aaaa`, `7`},
		{`{"id":"abc","method":"tools/call","params":{"x":"`, `"abc"`},
		{`{"id":12`, ``}, // the number may go on
		{`{"id":123,`, `123`},
		{`{"result":{"x":"`, ``},
		{`aaaaaaaa`, ``},
		{`{"method":"x","params":{"id":5},"id":6,"x":"`, `6`},
	} {
		if got := string(LeadingID([]byte(tt.in))); got != tt.want {
			t.Errorf("LeadingID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// dupKeys reports inputs where the two readers may legitimately differ:
// encoding/json keeps the last of duplicate keys, and matches them without
// regard to case.
func dupKeys(in string) bool {
	low := strings.ToLower(in)
	return strings.Count(low, `"id"`) > 1 || strings.Count(low, `"method"`) > 1 || low != in && (strings.Contains(low, `"id"`) || strings.Contains(low, `"method"`))
}

func TestFindAndSplice(t *testing.T) {
	line := []byte(`{"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"name":"x","_meta":{"progressToken":"tok","a":{"progressToken":1}}}}`)
	start, end, ok := Find(line, "params", "_meta", "progressToken")
	if !ok || string(line[start:end]) != `"tok"` {
		t.Fatalf("find: %q, %v", line[start:end], ok)
	}
	got := Splice(line, start, end, []byte("42"))
	if want := `{"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"name":"x","_meta":{"progressToken":42,"a":{"progressToken":1}}}}`; string(got) != want {
		t.Errorf("splice: %s", got)
	}
	if _, _, ok := Find(line, "params", "nope"); ok {
		t.Error("found a key that is not there")
	}
	if _, _, ok := Find(line, "id", "x"); ok {
		t.Error("found a key inside a string")
	}
}

func TestIDKey(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{`1`, `1`},
		{`"a"`, `"\u0061"`},
		{`"é"`, `"\u00e9"`},
		{`"a\"b"`, `"a\u0022b"`},
	} {
		if IDKey([]byte(tt.a)) != IDKey([]byte(tt.b)) {
			t.Errorf("%s and %s differ", tt.a, tt.b)
		}
	}
	if IDKey([]byte(`1`)) == IDKey([]byte(`"1"`)) {
		t.Error(`1 and "1" are one id`)
	}
}

func TestMCPName(t *testing.T) {
	for _, tt := range []struct {
		line, key, name string
		ok              bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}`, "name", "echo", true},
		{`{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}`, "name", "p", true},
		{`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}`, "uri", "file:///a", true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}`, "name", "", false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, "name", "", false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"x"}}`, "", "", false},
	} {
		m, err := Scan([]byte(tt.line))
		if err != nil {
			t.Fatal(err)
		}
		if key, name, ok := m.MCPName(); key != tt.key || name != tt.name || ok != tt.ok {
			t.Errorf("%s: %q %q %v, want %q %q %v", tt.line, key, name, ok, tt.key, tt.name, tt.ok)
		}
	}
}
