//go:build linux

package wine

import (
	"bytes"
	"context"
	"debug/pe"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

const childPkg = "github.com/mcp-secrets/mcp-secrets/internal/wine/testdata/child"

// result is what one Windows program did under Wine.
type result struct {
	stdout, stderr string
	code           int
}

// command is w.Command in dir, bounded in time.
func command(t *testing.T, w *Wine, env []string, dir, exe string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := w.Command(ctx, env, exe, args...)
	cmd.Dir = dir
	return cmd
}

func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	begin := time.Now()
	var r result
	r.stdout, r.stderr, r.code = testenv.Run(t, cmd)
	t.Logf("%s: exit %d in %v", strings.Join(cmd.Args[1:], " "), r.code, time.Since(begin).Round(time.Millisecond))
	return r
}

// The DLL is well formed and exports ProcessPrng as a forwarder.
func TestShim(t *testing.T) {
	b := processPrngShim()
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 || f.Characteristics&pe.IMAGE_FILE_DLL == 0 || !ok || len(f.Sections) != 1 {
		t.Fatalf("not a 64-bit DLL with one section: %+v", f.FileHeader)
	}
	sec := f.Sections[0]
	data, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	exports := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_EXPORT]
	if exports.VirtualAddress != sec.VirtualAddress || int(exports.Size) > len(data) {
		t.Fatalf("export directory %+v outside the section %+v", exports, sec.SectionHeader)
	}
	at := func(rva uint32) []byte { return data[rva-sec.VirtualAddress:] }
	str := func(rva uint32) string { s, _, _ := bytes.Cut(at(rva), []byte{0}); return string(s) }
	u32 := func(rva uint32) uint32 { return binary.LittleEndian.Uint32(at(rva)) }
	dir := exports.VirtualAddress
	functions, names, ordinals := u32(dir+28), u32(dir+32), u32(dir+36)
	fn := u32(functions + 4*uint32(binary.LittleEndian.Uint16(at(ordinals))))
	if got := str(u32(dir + 12)); got != "bcryptprimitives.dll" {
		t.Errorf("DLL name %q", got)
	}
	if n := u32(dir + 24); n != 1 || str(u32(names)) != "ProcessPrng" {
		t.Errorf("%d names, the first %q; want ProcessPrng alone", n, str(u32(names)))
	}
	if fn < dir || fn >= dir+exports.Size || str(fn) != "advapi32.SystemFunction036" {
		t.Errorf("ProcessPrng at %#x (exports %#x+%#x) is not the forwarder to advapi32.SystemFunction036: %q", fn, dir, exports.Size, str(fn))
	}
}

// The harness itself, on a Windows program of this module: Wine runs Go
// programs, hands them the environment and passes their exit code and
// output through.
func TestHarness(t *testing.T) {
	w := New(t)
	t.Logf("%s, ProcessPrng shim: %v", w.Version, w.Shim)
	child := testenv.BuildFor(t, "windows", "amd64", childPkg, "child")
	env := []string{"PATH=" + os.Getenv("PATH"), "FOO=bar"}
	r := run(t, command(t, w, env, t.TempDir(), child, "3", "FOO", "UNSET"))
	if want := "FOO sha256:" + testenv.Digest("bar") + "\nUNSET unset\n"; r.code != 3 || r.stdout != want {
		t.Fatalf("exit %d, stdout %q; want 3, %q; stderr:\n%s", r.code, r.stdout, want, r.stderr)
	}
	if r = run(t, command(t, w, env, t.TempDir(), child, "0")); r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}

	// The control: without the shim, this Wine cannot start a Go program.
	if !w.Shim {
		t.Logf("%s has bcryptprimitives.dll of its own: no shim", w.Version)
		return
	}
	cmd := command(t, w, env, t.TempDir(), child, "3", "FOO")
	cmd.Env = append(cmd.Env, "WINEDLLOVERRIDES="+overrides+";bcryptprimitives=b") // builtin only: the shim is a native DLL
	r = run(t, cmd)
	if r.code == 3 || !strings.Contains(r.stderr, "bcryptprimitives.dll not found") {
		t.Fatalf("without the shim: exit %d, stderr:\n%s\nwant Go's runtime failing on the missing bcryptprimitives.dll", r.code, r.stderr)
	}
	t.Logf("without the shim: exit %d, %s", r.code, firstLine(r.stderr))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// The smoke test of the Windows launcher: check and run with a .env
// reference, a child that shows what it got, and exit codes passed through.
func TestLauncher(t *testing.T) {
	w := New(t)
	t.Logf("%s, ProcessPrng shim: %v", w.Version, w.Shim)
	cli := testenv.BuildFor(t, "windows", "amd64", "github.com/mcp-secrets/mcp-secrets/cmd/mcp-secrets", "mcp-secrets")
	child := testenv.BuildFor(t, "windows", "amd64", childPkg, "child")
	dir := t.TempDir()
	const value = "sk-wine-0123456789abcdef"
	if err := os.WriteFile(filepath.Join(dir, "test.env"), []byte("API_KEY="+value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The launcher's environment holds the reference; the value is in test.env.
	base := append(testenv.EnvWithout("AWS_", "VAULT_", "AZURE_", "MCP_SECRETS_", "WINE"), "API_KEY=$<API_KEY>")
	gotValue := "API_KEY sha256:" + testenv.Digest(value) + "\n"

	// The control: the child alone sees the reference, so a digest of the
	// value in its output can only come from the launcher.
	r := run(t, command(t, w, base, dir, child, "0", "API_KEY"))
	if r.code != 0 || r.stdout != "API_KEY sha256:"+testenv.Digest("$<API_KEY>")+"\n" {
		t.Fatalf("the child alone: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}

	tests := []struct {
		name           string
		env            []string
		args           []string
		code           int
		stdout, stderr string // regular expressions
	}{
		{name: "check", args: []string{"check", "--env-file", "test.env"},
			stdout: `(?m)^API_KEY +dotenv +\$<API_KEY> +- +dotenv +sk-w…\(24 chars\)$`},
		{name: "check, missing reference", env: []string{"MISSING=$<NOPE>"}, args: []string{"check", "--env-file", "test.env"},
			code: 78, stderr: `MISSING: \$<NOPE>: dotenv: not found`},
		{name: "run", args: []string{"run", "--env-file", "test.env", "--", Path(child), "3", "API_KEY"},
			code: 3, stdout: "^" + regexp.QuoteMeta(gotValue) + "$"},
		{name: "run, exit 0", args: []string{"run", "--env-file", "test.env", "--", Path(child), "0", "API_KEY"},
			stdout: "^" + regexp.QuoteMeta(gotValue) + "$"},
		{name: "run, child through PATH and PATHEXT", env: []string{"WINEPATH=" + Path(filepath.Dir(child))},
			args: []string{"run", "--env-file", "test.env", "--", "child", "3", "API_KEY"},
			code: 3, stdout: "^" + regexp.QuoteMeta(gotValue) + "$"},
		{name: "run, child not on PATH", args: []string{"run", "--env-file", "test.env", "--", "child", "3", "API_KEY"},
			code: 127, stdout: "^$"},
		{name: "run, missing reference", env: []string{"MISSING=$<NOPE>"}, args: []string{"run", "--env-file", "test.env", "--", Path(child), "3", "API_KEY"},
			code: 78, stdout: "^$", stderr: `MISSING: \$<NOPE>: dotenv: not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, command(t, w, append(slices.Clip(base), tt.env...), dir, cli, tt.args...))
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			if !regexp.MustCompile(tt.stdout).MatchString(r.stdout) {
				t.Errorf("stdout does not match %s", tt.stdout)
			}
			if !regexp.MustCompile(tt.stderr).MatchString(r.stderr) {
				t.Errorf("stderr does not match %s", tt.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, value) {
				t.Errorf("the value is in the launcher's output")
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
		})
	}
}
