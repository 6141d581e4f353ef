package dotenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

func TestParse(t *testing.T) {
	in := `# a comment
export API_KEY=sk-abc # trailing comment
SINGLE='no $HOME expansion'
DOUBLE="line1\nline2"
MULTI="first
second"
REF=$<aws:prod/db#password>
EMPTY=
SPACED = spaced value
`
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"API_KEY": "sk-abc",
		"SINGLE":  "no $HOME expansion",
		"DOUBLE":  "line1\nline2",
		"MULTI":   "first\nsecond",
		"REF":     "$<aws:prod/db#password>",
		"EMPTY":   "",
		"SPACED":  "spaced value",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%q\nwant\n%q", got, want)
	}
}

func TestParseErrorsNameTheLineNotTheValue(t *testing.T) {
	const secret = "sk-live-0123456789"
	tests := []struct {
		in     string
		line   int
		reason string
	}{
		{"A=1\nB=\"" + secret + "\nC=3\n", 2, "unterminated quoted value"},
		{"A=1\nMULTI=\"x\ny\"\nB@D=" + secret + "\n", 4, "unexpected character in variable name"},
		{"A=1\n\n" + secret + "\n", 3, "unexpected character in variable name"},
		{"A=1\nB=2\nnoequals", 3, `a line without "NAME="`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		if !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", tt.in, err)
			continue
		}
		want := "line " + string(rune('0'+tt.line)) + ": malformed: " + tt.reason
		if err.Error() != want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, err, want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the value: %v", err)
		}
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	base := write(t, dir, "base.env", "A=base\nB=$<aws:x>\nC=base-c\n")
	local := write(t, dir, "local.env", "A=local\nB=local-b\n")
	missing := filepath.Join(dir, "missing.env")
	f, err := NewFiles(base, local, missing)
	if err != nil {
		t.Fatal(err)
	}
	// Later files win; a reference is not a plain value for the fallback.
	for name, want := range map[string]string{"A": "local", "B": "local-b", "C": "base-c"} {
		v, file, ok := f.Lookup(name)
		if !ok || v != want {
			t.Errorf("Lookup(%s) = %q, %v", name, v, ok)
		}
		if want == "base-c" && file != base {
			t.Errorf("Lookup(%s) file = %s", name, file)
		}
	}
	if _, err := f.Vars(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Vars with a missing file = %v", err)
	}

	ctx := context.Background()
	s, err := f.Fetch(ctx, providers.Ref{Provider: "dotenv", Path: "C"})
	if err != nil || s.Reveal() != "base-c" {
		t.Errorf("Fetch(C) = %q, %v", s.Reveal(), err)
	}
	_, err = f.Fetch(ctx, providers.Ref{Provider: "dotenv", Path: "NOPE"})
	if !errors.Is(err, providers.ErrNotFound) || !strings.Contains(err.Error(), "no NOPE in "+base) {
		t.Errorf("Fetch(NOPE) = %v, want the name and the files", err)
	}

	// An edit is seen by the next read.
	write(t, dir, "local.env", "A=edited\n")
	if v, _, _ := f.Lookup("A"); v != "edited" {
		t.Errorf("after an edit, A = %q", v)
	}

	only, _ := NewFiles(missing)
	_, err = only.Fetch(ctx, providers.Ref{Path: "A"})
	if !errors.Is(err, providers.ErrNotFound) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Fetch from a missing file = %v", err)
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var errorForm = regexp.MustCompile(`^line [0-9]+: malformed: (unterminated quoted value|unexpected character in variable name|not dotenv syntax|a line without "NAME=")$`)

func FuzzParse(f *testing.F) {
	f.Add("A=1\nexport B='two'\n# c\nC=\"multi\nline\"\n")
	f.Add("A=\"unterminated\n")
	f.Add("K=$<aws:x#y>\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := Parse([]byte(in))
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) || !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q is not a line-numbered ErrMalformed", err)
			}
			// The error never repeats input: it is fixed text and a number.
			if !errorForm.MatchString(err.Error()) {
				t.Fatalf("unexpected error form %q", err)
			}
			return
		}
		if hasEmptyName(m) {
			t.Fatalf("empty name from %q", in)
		}
	})
}
