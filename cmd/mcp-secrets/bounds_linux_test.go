package main

// Linux only: the inputs are /dev/zero and FIFOs, and the measure is
// ru_maxrss in KiB (bytes on macOS).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
)

// maxRSS is the bound the launcher's memory stays under whatever it is
// given (DESIGN.md, "Containment and bounds").
const maxRSS = 64 << 20

// peakRSS runs cmd to its end (20s at most) and returns what it printed
// on stderr, its exit code and its peak resident set size in bytes, as the
// kernel counted it for the waited-for process (getrusage's ru_maxrss).
func peakRSS(t *testing.T, cmd *exec.Cmd) (stderr string, code int, rss int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Dir, c.Env = cmd.Dir, cmd.Env
	var e bytes.Buffer
	c.Stderr = &e
	err := c.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%v did not end within 20s (killed at %d MB)", cmd.Args, c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss>>10)
	}
	return e.String(), c.ProcessState.ExitCode(), c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
}

// The control of every bound below: the same measure sees a process that
// holds 100 MB (this test binary, run as holdCommand).
func TestPeakRSSSeesAnAllocation(t *testing.T) {
	hold := filepath.Join(t.TempDir(), holdCommand)
	if err := os.Symlink(os.Args[0], hold); err != nil {
		t.Fatal(err)
	}
	stderr, code, rss := peakRSS(t, exec.Command(hold))
	if code != 0 || rss < 100<<20 {
		t.Fatalf("a child holding 100 MB: exit %d, peak RSS %d MB\n%s", code, rss>>20, stderr)
	}
}

// Endless and blocking inputs (a device, a FIFO, a sparse file of 10 GB)
// given to every command that reads a file: each ends at once with its
// one-line error and exit code, in little memory.
func TestBoundedInputs(t *testing.T) {
	cli := testenv.PlainCLI(t) // its memory is measured
	dir := t.TempDir()
	mkdir := func(p string) {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mkdir("repo/.cursor")
	mkdir("home")
	for link, target := range map[string]string{"repo/.env": "/dev/zero", "zero.env": "/dev/zero", "cwd/.env": "/dev/zero"} {
		mkdir(filepath.Dir(link))
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, fifo := range []string{"repo/.cursor/mcp.json", "fifo"} {
		if err := syscall.Mkfifo(filepath.Join(dir, fifo), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, sparse := range []string{"big", "big.env", "bigrepo/.mcp.json"} {
		mkdir(filepath.Dir(sparse))
		f, err := os.Create(filepath.Join(dir, sparse))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(10 << 30); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// Files at the dotenv limit: assignments, and comment lines (which
	// godotenv alone skips by recursion, 130 MB of stack for 1 MiB).
	var vars, comments bytes.Buffer
	for i := 0; vars.Len() < dotenv.MaxFile-32; i++ {
		fmt.Fprintf(&vars, "K%d=%s\n", i, bytes.Repeat([]byte("v"), 20))
	}
	for comments.Len() < dotenv.MaxFile {
		comments.WriteString("#\n")
	}
	for name, b := range map[string][]byte{"vars.env": vars.Bytes(), "comments.env": comments.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs := func(p string) string { return regexp.QuoteMeta(filepath.Join(dir, p)) }
	tests := []struct {
		name string
		args []string
		env  []string
		cwd  string
		code int
		line string // a line of stderr; "": stderr is empty
	}{
		{"scan, .env -> /dev/zero in the tree", []string{"scan", "repo"}, nil, "", 0, `mcp-secrets: skipped repo/\.env: symlink out of the scanned tree`},
		{"scan, a FIFO in the tree", []string{"scan", "repo"}, nil, "", 0, `mcp-secrets: skipped repo/\.cursor/mcp\.json: not a regular file`},
		{"scan, .env -> /dev/zero named", []string{"scan", "zero.env"}, nil, "", 0, `mcp-secrets: skipped zero\.env: not a regular file`},
		{"scan, /dev/zero named", []string{"scan", "/dev/zero"}, nil, "", 0, `mcp-secrets: skipped /dev/zero: not a regular file`},
		{"scan, a FIFO named", []string{"scan", "fifo"}, nil, "", 0, `mcp-secrets: skipped fifo: not a regular file`},
		{"scan, a config of 10 GB", []string{"scan", "bigrepo"}, nil, "", 65, `mcp-secrets: bigrepo/\.mcp\.json: larger than 64 MiB`},
		{"file:/dev/zero", []string{"check"}, []string{"V=$<file:/dev/zero>"}, "", 78, `mcp-secrets: V: \$<file:/dev/zero>: file: /dev/zero: not a regular file`},
		{"file: a FIFO", []string{"check"}, []string{"V=$<file:fifo>"}, "", 78, `mcp-secrets: V: \$<file:fifo>: file: fifo: not a regular file`},
		{"file: 10 GB", []string{"check"}, []string{"V=$<file:big>"}, "", 78, `mcp-secrets: V: \$<file:big>: file: big: larger than 1 MiB`},
		{"--env-file /dev/zero", []string{"check", "--env-file", "/dev/zero"}, nil, "", 78, `mcp-secrets: --env-file: /dev/zero: not a regular file`},
		{"--env-file FIFO", []string{"check", "--env-file", "fifo"}, nil, "", 78, `mcp-secrets: --env-file: ` + abs("fifo") + `: not a regular file`},
		{"--env-file 10 GB", []string{"check", "--env-file", "big.env"}, nil, "", 65, `mcp-secrets: --env-file: ` + abs("big.env") + `: larger than 1 MiB`},
		{"--env-file of 1 MiB of variables", []string{"check", "--env-file", "vars.env"}, nil, "", 0, ""},
		{"--env-file of 1 MiB of comments", []string{"check", "--env-file", "comments.env"}, nil, "", 0, ""},
		{"./.env -> /dev/zero", []string{"check"}, []string{"V=$<dotenv:V>"}, "cwd", 78, `mcp-secrets: V: \$<dotenv:V>: dotenv: ` + abs("cwd/.env") + `: not a regular file`},
		{"serve --config /dev/zero", []string{"serve", "--config", "/dev/zero"}, nil, "", 78, `mcp-secrets: --config: /dev/zero: not a regular file`},
		{"serve --config FIFO", []string{"serve", "--config", "fifo"}, nil, "", 78, `mcp-secrets: --config: fifo: not a regular file`},
		{"serve --config 10 GB", []string{"serve", "--config", "big"}, nil, "", 65, `mcp-secrets: --config: big: larger than 1 MiB`},
		{"wrap /dev/zero", []string{"wrap", "--to", "aws:x", "/dev/zero"}, nil, "", 78, `mcp-secrets: /dev/zero: not a regular file`},
		{"wrap FIFO", []string{"wrap", "--to", "aws:x", "fifo"}, nil, "", 78, `mcp-secrets: fifo: not a regular file`},
		{"wrap 10 GB", []string{"wrap", "--to", "aws:x", "big"}, nil, "", 65, `mcp-secrets: big: larger than 64 MiB`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(cli, tc.args...)
			cmd.Dir = filepath.Join(dir, tc.cwd)
			cmd.Env = append([]string{"HOME=" + filepath.Join(dir, "home"), "PATH=" + os.Getenv("PATH")}, tc.env...)
			stderr, code, rss := peakRSS(t, cmd)
			matched := stderr == ""
			if tc.line != "" {
				matched = regexp.MustCompile(`(?m)^` + tc.line + `$`).MatchString(stderr)
			}
			if code != tc.code || !matched {
				t.Errorf("exit %d, want %d; stderr:\n%s\nwant the line %s", code, tc.code, stderr, tc.line)
			}
			if rss > maxRSS {
				t.Errorf("peak RSS %d MB, over %d MB", rss>>20, maxRSS>>20)
			}
		})
	}
}
