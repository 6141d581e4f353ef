package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// Build race-builds exactly when this test binary is race-built: run the
// package's tests with and without -race to see both sides.
func TestBuildRace(t *testing.T) {
	bin := Build(t, "github.com/mcp-secrets/mcp-secrets/examples/showenv", "showenv")
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	if got := strings.Contains(string(out), "-race=true"); got != raceEnabled {
		t.Fatalf("race-built: %v, want %v (the test binary's); go version -m:\n%s", got, raceEnabled, out)
	}
}
