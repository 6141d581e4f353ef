package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CLI builds the mcp-secrets binary into a temporary directory and returns
// its path. The Go build cache makes every build after the first cheap.
func CLI(t testing.TB) string {
	t.Helper()
	return Build(t, "github.com/mcp-secrets/mcp-secrets/cmd/mcp-secrets", "mcp-secrets")
}

// Build builds one package of this module into a temporary directory.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// ModuleRoot is the directory of this module's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	b, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(b))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: %q, %v", gomod, err)
	}
	return filepath.Dir(gomod)
}

// NodeModules is the directory of the npm packages the tests use (the MCP
// peers of tools/npm), installed by `make npm`.
func NodeModules(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(ModuleRoot(t), "tools", "npm", "node_modules")
	if _, err := os.Stat(filepath.Join(dir, "@modelcontextprotocol", "server-everything")); err != nil {
		unavailable(t, "%s: the npm test peers are not installed (run make npm or make test): %v", dir, err)
	}
	return dir
}
