package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
)

// $<file:PATH> is the file's whole content without one trailing newline,
// through the resolver as the launcher reads it (TestSuite covers #field).
func TestFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, content, want string
	}{
		{"plain", "s3cret-from-a-file", "s3cret-from-a-file"},
		{"newline", "s3cret\n", "s3cret"},
		{"crlf", "s3cret\r\n", "s3cret"},
		{"one newline only", "s3cret\n\n", "s3cret\n"},
		{"inner newlines", "-----BEGIN KEY-----\nabc\n-----END KEY-----\n", "-----BEGIN KEY-----\nabc\n-----END KEY-----"},
		{"spaces kept", "  padded  ", "  padded  "},
		{"empty", "", ""},
	}
	r := &providers.Resolver{Providers: map[string]providers.Provider{"file": file.Provider{}}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := "$<file:" + write(strings.ReplaceAll(tc.name, " ", "-"), tc.content) + ">"
			res, err := r.Resolve(context.Background(), []providers.Var{{Name: "V", Value: ref}})
			if err != nil {
				t.Fatal(err)
			}
			if got := res[0].Value.Reveal(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s")
	os.WriteFile(p, []byte("value-in-the-file"), 0o600)
	ctx := context.Background()
	tests := []struct {
		ref  providers.Ref
		kind error
		msg  string
	}{
		{providers.Ref{Path: dir}, providers.ErrConfig, dir + ": not a regular file"},
		{providers.Ref{Path: p, Version: "2"}, providers.ErrConfig, "files have no versions"},
		{providers.Ref{Path: p, Stage: "AWSCURRENT"}, providers.ErrConfig, "files have no versions"},
	}
	for _, tc := range tests {
		_, err := file.Provider{}.Fetch(ctx, tc.ref)
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: %v, want %v (%s)", tc.ref, err, tc.kind, tc.msg)
		}
	}
	// A field of a file that is not JSON names neither the file's content
	// nor its value.
	r := &providers.Resolver{Providers: map[string]providers.Provider{"file": file.Provider{}}}
	_, err := r.Resolve(ctx, []providers.Var{{Name: "V", Value: "$<file:" + p + "#key>"}})
	if !errors.Is(err, providers.ErrNotFound) || strings.Contains(err.Error(), "value-in-the-file") {
		t.Errorf("#key of a plain file: %v", err)
	}
}

// The watcher is told the absolute path a reference reads.
func TestFiles(t *testing.T) {
	wd, _ := os.Getwd()
	for path, want := range map[string]string{
		"/run/secrets/db": "/run/secrets/db",
		"secrets/db":      filepath.Join(wd, "secrets/db"),
	} {
		got := file.Provider{}.Files(providers.Key{Provider: "file", Path: path})
		if len(got) != 1 || got[0] != want {
			t.Errorf("Files(%s) = %q, want %q", path, got, want)
		}
	}
}
