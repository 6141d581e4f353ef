package dotenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/joho/godotenv"

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
		{"A=1\nMULTI=\"x\ny\"\nB@D=" + secret + "\n", 4, `a variable name holds a character other than letters, digits, "_" and "."`},
		{"A=1\n\n" + secret + "\n", 3, "not an assignment (want NAME=VALUE)"},
		{"A=1\nB=2\nnoequals", 3, "not an assignment (want NAME=VALUE)"},
		{"A=1\r\nB=2\r\n" + secret + "\r\n", 3, "not an assignment (want NAME=VALUE)"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		if !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", tt.in, err)
			continue
		}
		want := fmt.Sprintf("line %d: malformed: %s", tt.line, tt.reason)
		if err.Error() != want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, err, want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the value: %v", err)
		}
	}
}

// Every line is blank, a comment or an assignment. Each of these godotenv
// takes without a word (the control: it parses them, and says what it
// made of them), so the check is what stops them.
func TestParseRefusesWhatGodotenvTakes(t *testing.T) {
	tests := []struct {
		in       string
		godotenv map[string]string // what it made of the input
		reason   string
	}{
		{"A B=1\n", map[string]string{"A B": "1"}, "a variable name holds"},
		{"A: 1\n", map[string]string{"A": "1"}, "not an assignment"},
		{"url: postgres://u:p@h/d\n", map[string]string{"url": "postgres://u:p@h/d"}, "not an assignment"},
		{"=1\n", map[string]string{"": "1"}, "a variable name holds"},
		{"export A", map[string]string{"": "A"}, "not an assignment"},
		{"A=\"x\" B=2\n", map[string]string{"A": "x", "B": "2"}, "text after the closing quote"},
		{"A='x'B=2\n", map[string]string{"A": "x", "B": "2"}, "text after the closing quote"},
		{"A=x\rB=2\n", map[string]string{"A": "x", "B": "2"}, "a carriage return inside a line"},
		{"A=x\x00y\n", map[string]string{"A": "x\x00y"}, "a NUL byte"},
		{"A.B-C=1\n", nil, "a variable name holds"}, // godotenv refuses this one too
	}
	for _, tt := range tests {
		got, err := godotenv.UnmarshalBytes([]byte(tt.in))
		if tt.godotenv != nil && (err != nil || !reflect.DeepEqual(got, tt.godotenv)) {
			t.Errorf("control: godotenv made %q of %q (%v), want %q", got, tt.in, err, tt.godotenv)
		}
		_, err = Parse([]byte(tt.in))
		if !errors.Is(err, providers.ErrMalformed) || !strings.HasPrefix(err.Error(), "line 1: malformed: "+tt.reason) {
			t.Errorf("Parse(%q) = %v, want line 1: %s", tt.in, err, tt.reason)
		}
	}
}

// ParseLines says where each variable is set, the last time.
func TestParseLines(t *testing.T) {
	in := "# c\nA=1\n\nexport B='x\nC=no'\n  A = 2 # again\r\nD=\"\"\n"
	vars, lines, err := ParseLines([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"A": 6, "B": 4, "D": 7}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %v, want %v", lines, want)
	}
	if want := map[string]string{"A": "2", "B": "x\nC=no", "D": ""}; !reflect.DeepEqual(vars, want) {
		t.Errorf("vars %q, want %q", vars, want)
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

var errorForm = regexp.MustCompile(`^line [0-9]+: malformed: (unterminated quoted value|not an assignment \(want NAME=VALUE\)|a variable name holds a character other than letters, digits, "_" and "."|text after the closing quote|a carriage return inside a line|a NUL byte, which no environment variable can hold)$`)

// Whatever the input, Parse either fails with a line number and a reason
// of its own words, or gives what godotenv gives, every variable with the
// line that sets it.
func FuzzParse(f *testing.F) {
	f.Add("A=1\nexport B='two'\n# c\nC=\"multi\nline\"\n")
	f.Add("A=\"unterminated\n")
	f.Add("K=$<aws:x#y>\n")
	f.Add("A B=1\nC: 2\nD=\"x\" E=3\nF=x\rG=4\n")
	f.Add("A=\"\\\"\" # c\r\n B = ${A} \n")
	f.Fuzz(func(t *testing.T, in string) {
		m, lines, err := ParseLines([]byte(in))
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) || !errorForm.MatchString(err.Error()) {
				t.Fatalf("unexpected error form %q", err)
			}
			return
		}
		want, err := godotenv.UnmarshalBytes([]byte(in))
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Fatalf("Parse = %q, godotenv = %q (%v)", m, want, err)
		}
		text := strings.Split(strings.ReplaceAll(in, "\r\n", "\n"), "\n")
		for name := range m {
			n := lines[name]
			if n < 1 || n > len(text) {
				t.Fatalf("%q at line %d of %d", name, n, len(text))
			}
			l := strings.TrimLeftFunc(text[n-1], unicode.IsSpace)
			if rest, ok := strings.CutPrefix(l, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
				l = strings.TrimLeft(rest, " \t")
			}
			if !strings.HasPrefix(l, name) || name == "" {
				t.Fatalf("line %d, %q, does not set %q", n, text[n-1], name)
			}
		}
		if len(lines) != len(m) {
			t.Fatalf("lines of %v, variables %v", lines, m)
		}
	})
}

// A dotenv file is a regular file of at most MaxFile bytes; the error
// names the file and says why, in one line, with its kind.
func TestFileBounds(t *testing.T) {
	dir := t.TempDir()
	atLimit := "A=" + strings.Repeat("v", MaxFile-3) + "\n"
	max := write(t, dir, "max.env", atLimit)
	over := write(t, dir, "over.env", atLimit+"\n")
	if err := os.Symlink(max, filepath.Join(dir, "link.env")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		kind error
		msg  string // "" for no error
	}{
		{max, nil, ""},
		{filepath.Join(dir, "link.env"), nil, ""},
		{over, providers.ErrMalformed, over + ": larger than 1 MiB"},
		{dir, providers.ErrConfig, dir + ": not a regular file"},
	}
	for _, tc := range tests {
		f, _ := NewFiles(tc.path)
		_, errVars := f.Vars()
		_, errRead := ReadFile(tc.path)
		_, errFetch := f.Fetch(context.Background(), providers.Ref{Path: "A"})
		for _, err := range []error{errVars, errRead, errFetch} {
			if tc.kind == nil {
				if err != nil {
					t.Errorf("%s: %v", tc.path, err)
				}
				continue
			}
			if !errors.Is(err, tc.kind) || err == nil || err.Error() != tc.msg {
				t.Errorf("%s: %v, want %v %q", tc.path, err, tc.kind, tc.msg)
			}
		}
		if _, _, ok := f.Lookup("A"); ok != (tc.kind == nil) {
			t.Errorf("%s: Lookup found A: %v", tc.path, ok)
		}
	}
}

// A file replaced by another of the same size and modification time (a
// rename over it, as editors and Kubernetes do) is read again: the cache
// knows files by identity. The control: the same file, rewritten in place
// with size and time kept, is not read again, so the cache is really used.
func TestFilesCacheKnowsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "app.env", "A=one\n")
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	f, _ := NewFiles(path)
	if v, _, _ := f.Lookup("A"); v != "one" {
		t.Fatalf("A = %q", v)
	}
	// In place, same size and time: the cache answers.
	write(t, dir, "app.env", "A=two\n")
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := f.Lookup("A"); v != "one" {
		t.Fatalf("control: an in-place rewrite with size and time kept was read again (A = %q): the cache is not used", v)
	}
	// Another file renamed over it, same size and time: read again.
	next := write(t, dir, "next.env", "A=new\n")
	if err := os.Chtimes(next, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := f.Lookup("A"); v != "new" {
		t.Errorf("after a rename over the file, A = %q, want new", v)
	}
}

// A file of MaxFile bytes of comment lines parses in little stack:
// godotenv alone recurses once per comment line (the control: on the same
// input it takes tens of MB).
func TestParseCommentsInLittleStack(t *testing.T) {
	in := bytes.Repeat([]byte("#\n"), MaxFile/2)
	// stack is how much the stacks in use grew by f, run on a goroutine of
	// its own, whose stack starts small and has not shrunk back yet when
	// measured.
	stack := func(f func()) int64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		done := make(chan struct{})
		go func() {
			f()
			runtime.ReadMemStats(&after)
			close(done)
		}()
		<-done
		return int64(after.StackInuse) - int64(before.StackInuse)
	}
	var err error
	if n := stack(func() { _, err = Parse(in) }); err != nil || n > 4<<20 {
		t.Errorf("Parse: %v, %d bytes of stack", err, n)
	}
	if n := stack(func() { _, err = godotenv.UnmarshalBytes(in) }); err != nil || n < 16<<20 {
		t.Errorf("control: godotenv took %d bytes of stack (%v)", n, err)
	}
}
