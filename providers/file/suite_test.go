package file_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
	"github.com/mcp-secrets/mcp-secrets/providers/providertest"
)

// mount is a directory of secret files, as a Docker or Kubernetes secret
// mount is.
type mount string

func (mount) Provider() providers.Provider { return file.Provider{} }

func (m mount) Set(t testing.TB, name, value string) string {
	if err := os.WriteFile(filepath.Join(string(m), name), []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return ""
}

func (m mount) Ref(name, field, _ string) string {
	return providers.Ref{Provider: "file", Path: filepath.Join(string(m), name), Field: field}.String()
}

// A mount is no Denier: the tests run as root, who reads any file.

func TestSuite(t *testing.T) {
	providertest.Run(t, mount(t.TempDir()))
}
