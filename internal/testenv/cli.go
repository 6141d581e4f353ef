package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CLI builds the mcp-secrets binary into a temporary directory and returns
// its path. The Go build cache makes every build after the first cheap.
func CLI(t testing.TB) string {
	t.Helper()
	return Build(t, "github.com/mcp-secrets/mcp-secrets/cmd/mcp-secrets", "mcp-secrets")
}

// PlainCLI builds the mcp-secrets binary as it ships, never race-built
// (race detection keeps shadow memory of its own): for tests that measure
// its memory.
func PlainCLI(t testing.TB) string {
	t.Helper()
	out, err := goBuild(nil, t.TempDir(), "github.com/mcp-secrets/mcp-secrets/cmd/mcp-secrets", "mcp-secrets", runtime.GOOS)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Build builds one package of this module into a temporary directory. It is
// race-built when the test binary is (go test -race), so an end-to-end test
// finds the data races of the processes it starts too: a race-built program
// that races prints "WARNING: DATA RACE" and exits 66.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	out, err := BuildInto(t.TempDir(), pkg, name)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BuildInto is Build into dir, for a binary that several tests share.
func BuildInto(dir, pkg, name string) (string, error) {
	var flags []string
	if raceEnabled {
		flags = append(flags, "-race")
	}
	return goBuild(nil, dir, pkg, name, runtime.GOOS, flags...)
}

// BuildFor cross-builds one package of this module for goos/goarch into a
// temporary directory, static (CGO_ENABLED=0) as the release archives are.
func BuildFor(t testing.TB, goos, goarch, pkg, name string) string {
	t.Helper()
	env := []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=0"}
	out, err := goBuild(env, t.TempDir(), pkg, name, goos)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// goBuild builds pkg into dir as name (name.exe for Windows), from the
// module root, with env added to the test's environment.
func goBuild(env []string, dir, pkg, name, goos string, flags ...string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if goos == "windows" {
		name += ".exe"
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// ModuleRoot is the directory of this module's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(b))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: %q, %v", gomod, err)
	}
	return filepath.Dir(gomod), nil
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
