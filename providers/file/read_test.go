package file_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
)

// A secret file is a regular file of at most MaxSize bytes, reached
// through any symlinks; anything else is a one-line configuration error
// that names the path and never the content.
func TestFetchBounds(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, name string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	atLimit := bytes.Repeat([]byte("k"), file.MaxSize)
	// A Kubernetes secret volume: the key is a symlink to ..data/KEY, and
	// ..data a symlink to the timestamped directory a rotation swaps in.
	write("k8s/..2026_01_01_00_00_00.1/password", []byte("pw-from-k8s\n"))
	link("..2026_01_01_00_00_00.1", "k8s/..data")
	link("..data/password", "k8s/password")

	tests := []struct {
		name, path string
		want       string // the value; or, with err, the error's text
		err        error
	}{
		{"kubernetes mount", filepath.Join(dir, "k8s/password"), "pw-from-k8s", nil},
		{"at the limit", write("max", atLimit), string(atLimit), nil},
		{"one byte over", write("over", append(atLimit, 'k')), "over: larger than 1 MiB", providers.ErrConfig},
		{"symlink to a large file", link("over", "over-link"), "over-link: larger than 1 MiB", providers.ErrConfig},
		{"directory", dir, dir + ": not a regular file", providers.ErrConfig},
		{"symlink to a directory", link(dir, "dir-link"), "dir-link: not a regular file", providers.ErrConfig},
		{"dangling symlink", link("nothing", "dangling"), "dangling does not exist", providers.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := file.Provider{}.Fetch(context.Background(), providers.Ref{Provider: "file", Path: tc.path})
			if tc.err == nil {
				if err != nil || s.Reveal() != tc.want {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(s.Reveal()), err, len(tc.want))
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.HasSuffix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want a one-line %v ending %q", err, tc.err, tc.want)
			}
			if strings.Contains(err.Error(), "kkkk") {
				t.Fatal("the error shows the content")
			}
		})
	}
}

// A file that grows past the limit after it was opened is refused, and
// never read past limit+1 bytes.
func TestReadAllStopsPastLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "grows")
	if err := os.WriteFile(p, []byte("small"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, fi, err := file.Open(p, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 1000), 0o600); err != nil { // same inode, truncated and rewritten
		t.Fatal(err)
	}
	_, err = file.ReadAll(f, fi, 100)
	if !errors.Is(err, file.ErrTooLarge) || err.Error() != p+": larger than 100 bytes" {
		t.Fatalf("ReadAll of a grown file = %v", err)
	}
	if off, _ := f.Seek(0, 1); off != 101 {
		t.Errorf("read %d bytes, want limit+1 = 101", off)
	}
	// Control: within the limit, the same file reads whole.
	if b, err := file.Read(p, 1000); err != nil || len(b) != 1000 {
		t.Errorf("Read within the limit: %d bytes, %v", len(b), err)
	}
}
