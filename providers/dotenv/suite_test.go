package dotenv

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/providertest"
)

// envFile is one dotenv file, every secret a variable of it.
type envFile struct {
	f    *Files
	vars map[string]string
}

func (e *envFile) Provider() providers.Provider { return e.f }

// Set writes the whole file anew, each value single-quoted (the suite's
// hold no quote), and renames it over the old one as an editor does.
func (e *envFile) Set(t testing.TB, name, value string) string {
	e.vars[name] = value
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(e.vars)) {
		b.WriteString(k + "='" + e.vars[k] + "'\n")
	}
	path := e.f.Paths()[0]
	tmp := filepath.Join(filepath.Dir(path), ".new.env")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return ""
}

func (e *envFile) Ref(name, field, _ string) string {
	return providers.Ref{Provider: "dotenv", Path: name, Field: field}.String()
}

func TestSuite(t *testing.T) {
	f, err := NewFiles(filepath.Join(t.TempDir(), ".env"))
	if err != nil {
		t.Fatal(err)
	}
	providertest.Run(t, &envFile{f: f, vars: map[string]string{}})
}
