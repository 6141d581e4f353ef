package injector

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestScanMessage(t *testing.T) {
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
		m, err := scanMessage([]byte(tt.in))
		if err != nil {
			t.Errorf("scanMessage(%.60s): %v", tt.in, err)
			continue
		}
		kind := "other"
		switch {
		case m.isRequest():
			kind = "request"
		case m.isNotification():
			kind = "notification"
		case m.isResponse():
			kind = "response"
		}
		if string(m.id) != tt.id || m.method != tt.method || kind != tt.kind {
			t.Errorf("scanMessage(%.60s) = id %q method %q %s, want %q %q %s", tt.in, m.id, m.method, kind, tt.id, tt.method, tt.kind)
		}
		if m.id != nil && string([]byte(tt.in)[m.idStart:m.idEnd]) != tt.id {
			t.Errorf("id span %d:%d wrong", m.idStart, m.idEnd)
		}
	}
	for _, bad := range []string{``, `[]`, `{"id":1`, `{"id" 1}`, `{"a":"unterminated}`, `{"a":[1,2}`, `nope`} {
		if _, err := scanMessage([]byte(bad)); err == nil {
			t.Errorf("scanMessage(%q) accepted", bad)
		}
	}
}

func TestSpliceID(t *testing.T) {
	line := []byte(`{"jsonrpc":"2.0","id":42,"method":"roots/list"}` + "\n")
	m, _ := scanMessage(line)
	if got := string(spliceID(line, m, []byte(`"x-1"`))); got != `{"jsonrpc":"2.0","id":"x-1","method":"roots/list"}`+"\n" {
		t.Errorf("spliceID = %s", got)
	}
}

// FuzzScanMessage: never panics, and on JSON objects that encoding/json
// accepts, finds the same id and method.
func FuzzScanMessage(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`)
	f.Add(`{"id":"a\\\"","result":{"x":[1,"]"]}}`)
	f.Add(`{"method":"m","params":[{"a":"}"}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		m, err := scanMessage([]byte(in))
		var ref struct {
			ID     json.RawMessage `json:"id"`
			Method any             `json:"method"`
		}
		if json.Unmarshal([]byte(in), &ref) != nil || !bytes.HasPrefix(bytes.TrimSpace([]byte(in)), []byte("{")) || dupKeys(in) {
			return
		}
		if err != nil {
			t.Fatalf("scanMessage(%q): %v, but it is a JSON object", in, err)
		}
		if !bytes.Equal(bytes.TrimSpace(m.id), bytes.TrimSpace(ref.ID)) && !(m.id == nil && string(ref.ID) == "null") {
			t.Fatalf("id %q, want %q", m.id, ref.ID)
		}
		if s, ok := ref.Method.(string); ok && !strings.Contains(in, `\`) && m.method != s {
			t.Fatalf("method %q, want %q", m.method, s)
		}
	})
}

// dupKeys reports inputs where the two readers may legitimately differ:
// encoding/json keeps the last of duplicate keys, and matches them without
// regard to case.
func dupKeys(in string) bool {
	low := strings.ToLower(in)
	return strings.Count(low, `"id"`) > 1 || strings.Count(low, `"method"`) > 1 || low != in && (strings.Contains(low, `"id"`) || strings.Contains(low, `"method"`))
}
