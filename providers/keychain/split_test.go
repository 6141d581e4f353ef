package keychain

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

func TestSplit(t *testing.T) {
	tests := []struct{ path, service, account string }{
		{"github/token", "github", "token"},
		{"https://index.docker.io/v1//me", "https://index.docker.io/v1/", "me"},
		{"a/b/c", "a/b", "c"},
		{"svc/me@example.com", "svc", "me@example.com"},
		{"github", "", ""},
		{"github/", "", ""},
		{"/token", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		service, account, err := split(tt.path)
		if service != tt.service || account != tt.account || (err == nil) != (tt.service != "") {
			t.Errorf("split(%q) = %q, %q, %v; want %q, %q", tt.path, service, account, err, tt.service, tt.account)
		}
		if err != nil && !errors.Is(err, providers.ErrConfig) {
			t.Errorf("split(%q): %v is not a configuration error", tt.path, err)
		}
	}
}

// Every path either names one item, service and account joined by the
// last "/", both non-empty, or is a configuration error.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"github/token", "a/b/c", "/", "x/", "/y", "https://h/v1//me"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		service, account, err := split(path)
		if err != nil {
			if !errors.Is(err, providers.ErrConfig) || service != "" || account != "" {
				t.Fatalf("split(%q): %q, %q, %v", path, service, account, err)
			}
			return
		}
		if service == "" || account == "" || strings.Contains(account, "/") || service+"/"+account != path {
			t.Fatalf("split(%q) = %q, %q", path, service, account)
		}
	})
}
