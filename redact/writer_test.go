package redact

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriterAcrossWrites(t *testing.T) {
	set := setOf(New([]Secret{{"K", "secret-value-42"}}))
	var out bytes.Buffer
	w := NewWriter(&out, set, false)
	for _, part := range []string{"log: secr", "et-val", "ue-42 done\nnext ", "line secret-value-42"} {
		w.Write([]byte(part))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "log: [REDACTED:K] done\nnext line [REDACTED:K]"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestWriterByteByByte: a secret in each form, written a byte at a time
// with FlushIdle after every byte, is still found whole.
func TestWriterByteByByte(t *testing.T) {
	const v = "pässwörd-secret/42"
	r := New([]Secret{{"K", v}})
	for _, enc := range encoders {
		in := "x " + enc.encode(v, 1) + " y"
		var out bytes.Buffer
		w := NewWriter(&out, setOf(r), false)
		for i := range len(in) {
			w.Write([]byte{in[i]})
			w.FlushIdle()
		}
		w.Flush()
		if enc.leaks(out.String(), v) || !strings.Contains(out.String(), "[REDACTED:K]") {
			t.Errorf("%s: %q became %q", enc.name, in, out.String())
		}
	}
}

func TestWriterLongLine(t *testing.T) {
	set := setOf(New([]Secret{{"K", "secret-value-42"}}))
	var out bytes.Buffer
	w := NewWriter(&out, set, false)
	// A line longer than the bound still has every occurrence redacted,
	// at every offset against the pieces it is let through in; in JSON
	// escapes too.
	for _, form := range []string{"secret-value-42", `secret-\u0076alue-42`, `secret-\\u0076alue-42`} {
		for shift := range 40 {
			out.Reset()
			long := strings.Repeat("a", maxLine-shift) + form + strings.Repeat("b", maxLine) + form + strings.Repeat("c", 3*maxLine)
			for chunk := range slicesOf(long, 4093) {
				w.Write([]byte(chunk))
			}
			if out.Len() < maxLine {
				t.Fatalf("%d bytes let through of a line of %d", out.Len(), len(long))
			}
			w.Flush()
			got := out.String()
			if strings.Count(got, "[REDACTED:K]") != 2 || out.Len() != len(long)-2*len(form)+2*len("[REDACTED:K]") {
				t.Fatalf("%s at %d: long line not redacted right (%d markers, len %d)", form, shift, strings.Count(got, "[REDACTED:K]"), out.Len())
			}
		}
	}
}

// TestWriterNoSecrets: no redactor (nothing resolved) or no Set, and a line
// of 1 MiB without a newline: it passes unchanged, without a panic, and is
// not all held.
func TestWriterNoSecrets(t *testing.T) {
	line := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for name, set := range map[string]*Set{"nil redactor": {}, "nil set": nil} {
		var out bytes.Buffer
		w := NewWriter(&out, set, false)
		for chunk := range slicesOf(string(line), 32<<10) {
			if _, err := w.Write([]byte(chunk)); err != nil {
				t.Fatal(err)
			}
		}
		if out.Len() < len(line)-maxLine {
			t.Errorf("%s: %d of %d bytes let through before Flush", name, out.Len(), len(line))
		}
		w.Flush()
		if !bytes.Equal(out.Bytes(), line) {
			t.Errorf("%s: the line changed", name)
		}
	}
}

// TestWriterPEM: a multi-line value written line by line, as a child's
// stderr is, has every line redacted; the control, another value, leaves
// them, so the check sees them.
func TestWriterPEM(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\r\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\nNMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n-----END PRIVATE KEY-----\n"
	for _, tt := range []struct {
		name  string
		r     *Redactor
		lines bool // the lines of the key stay
	}{{"the key", New([]Secret{{"KEY", pem}}), false}, {"control: another value", New([]Secret{{"OTHER", "other-value"}}), true}} {
		var out bytes.Buffer
		w := NewWriter(&out, setOf(tt.r), false)
		for line := range strings.Lines(pem) {
			w.Write([]byte("stderr: " + line))
		}
		w.Flush()
		for line := range strings.Lines(pem) {
			if l := strings.TrimRight(line, "\r\n"); strings.Contains(out.String(), l) != tt.lines {
				t.Errorf("%s: line %q: got\n%s", tt.name, l, out.String())
			}
		}
	}
	r := New([]Secret{{"KEY", pem}})
	whole := []byte("stderr: " + pem)
	if got := r.Text(nil, whole); string(got) != "stderr: [REDACTED:KEY]" {
		t.Errorf("the whole value: %q", got)
	}
}

// TestFlushIdle: what could still be the start of a secret is held back,
// exactly that, and the rest goes.
func TestFlushIdle(t *testing.T) {
	r := New([]Secret{{"K", "sk-live-0123456789"}})
	tests := []struct{ written, out, held string }{
		{`{"jsonrpc":"2.0","id":1}`, `{"jsonrpc":"2.0","id":1}`, ""},
		{"key: sk-live-01", "key: ", "sk-live-01"},
		{"key: sk-live-0123456789", "key: [REDACTED:K]", ""},
		{`key: "sk-live-01\u003`, `key: "`, `sk-live-01\u003`},
		{`key: "sk-live-01\`, `key: "`, `sk-live-01\`},
		{"key: sk-live-01%3", "key: ", "sk-live-01%3"},
		{`done \`, `done `, `\`},
		{"no secret %", "no secret ", "%"},
		{"sk-", "", "sk-"},
		{"x sk-lime", "x sk-lime", ""},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		w := NewWriter(&out, setOf(r), false)
		w.Write([]byte(tt.written))
		if err := w.FlushIdle(); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.out {
			t.Errorf("FlushIdle after %q wrote %q, want %q", tt.written, out.String(), tt.out)
		}
		w.Flush()
		if held := strings.TrimPrefix(out.String(), tt.out); held != tt.held {
			t.Errorf("after %q held %q, want %q", tt.written, held, tt.held)
		}
	}
}

// TestWriterWrapped: base64 wrapped over lines, as `base64` prints a file
// on stderr, is found across its lines; a JSON line after the block stays
// valid; lines that merely end with a long word are not held once the next
// line shows they end no block.
func TestWriterWrapped(t *testing.T) {
	const v = "correct-horse-battery-staple"
	r := New([]Secret{{"S", v}})
	block := wrapped(v, 1) // 76 columns, the secret across the break
	in := "dump:\n" + block + "\n" + `{"level":"info","n":1234567890}` + "\n" + "id 0123456789abcdef0123\nnext\n"
	if !strings.Contains(block, "\n") || !wrappedLeak(in, v) {
		t.Fatalf("control: %q holds no wrapped secret", in)
	}
	var out bytes.Buffer
	w := NewWriter(&out, setOf(r), true)
	for line := range strings.Lines(in) {
		w.Write([]byte(line))
		switch line {
		case "id 0123456789abcdef0123\n":
			if !strings.HasSuffix(out.String(), "}\n") {
				t.Errorf("a line that may go on in the next is let through: %q", out.String())
			}
		case "next\n":
			if !strings.HasSuffix(out.String(), "id 0123456789abcdef0123\nnext\n") {
				t.Errorf("a line that ends no block is still held: %q", out.String())
			}
		}
	}
	w.Flush()
	got := out.String()
	if wrappedLeak(got, v) || !strings.Contains(got, "[REDACTED:S]") {
		t.Errorf("wrapped secret not redacted: %q", got)
	}
	if !strings.Contains(got, "\n"+`{"level":"info","n":1234567890}`+"\n") {
		t.Errorf("the JSON line changed: %q", got)
	}
}
