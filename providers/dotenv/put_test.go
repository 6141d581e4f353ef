package dotenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

func TestPut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.env")
	f, err := NewFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	values := map[string]string{
		"TOKEN":     "ghp_0123456789abcdefABCDEF",
		"QUOTED":    `it's "quoted" with $HOME and ${X} and \n`,
		"PEM":       "-----BEGIN KEY-----\nabc\n-----END KEY-----",
		"CRLF":      "a\r\nb",
		"TRAILING":  `ends with \`,
		"SPACES":    "  padded  ",
		"HASH":      "pw #1",
		"REFERENCE": "not $ <a reference>",
	}
	if err := f.Put(ctx, "github", values); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", fi.Mode().Perm())
	}
	for k, v := range values {
		s, err := f.Fetch(ctx, providers.Ref{Provider: "dotenv", Path: k})
		if err != nil || s.Reveal() != v {
			t.Errorf("%s: got %q, %v; want %q", k, s.Reveal(), err, v)
		}
	}

	// Appending keeps what is there, its mode, and skips equal values.
	os.Chmod(path, 0o640)
	before, _ := os.ReadFile(path)
	if err := f.Put(ctx, "slack", map[string]string{"TOKEN": values["TOKEN"], "SLACK": "xoxb-1"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(after), string(before)) || string(after[len(before):]) != "# slack (mcp-secrets wrap)\nSLACK='xoxb-1'\n" {
		t.Errorf("appended %q", after[len(before):])
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %o, want 640 kept", fi.Mode().Perm())
	}
	// Another value under a name the file sets is refused, file untouched.
	err = f.Put(ctx, "other", map[string]string{"TOKEN": "different"})
	if !errors.Is(err, providers.ErrConfig) || strings.Contains(err.Error(), "different") {
		t.Errorf("conflict: %v", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(after) {
		t.Error("a refused Put changed the file")
	}
	// No temporary file is left behind.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries", len(ents))
	}
	// A name dotenv syntax cannot hold is refused.
	if err := f.Put(ctx, "x", map[string]string{"MY-VAR": "v"}); err == nil {
		t.Error("MY-VAR accepted")
	}
}

// Whatever the value, Put's assignment reads back as exactly that value,
// or is refused.
func FuzzAssignment(f *testing.F) {
	for _, v := range []string{"plain", "it's", `a"b`, "$HOME", `\`, "a\nb", "a\r\nb", `\$X`, "'", `"`, " x ", "#x", "x #y", "${A}", `\\n`} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		line, ok := assignment("K", v)
		if !ok {
			return
		}
		m, err := Parse([]byte(line))
		if err != nil || m["K"] != v {
			t.Fatalf("%q reads back as %q (%v)", line, m["K"], err)
		}
	})
}
