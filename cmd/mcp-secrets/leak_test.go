// strace records what the launcher writes: Linux.

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// canary is the secret every command handles; it must come out nowhere but
// in the child's environment.
const canary = "leak-canary-7f3a9c2e5b1d"

// TestNoLeak runs every command, the failing paths too, under strace with a
// known secret, and checks the secret is in no output stream, in no file
// under the working directory, $HOME or $TMPDIR, and in no write the
// launcher makes; and that the launcher opens no file for writing.
func TestNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the leak test traces real processes")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatal("strace is needed for the leak test (.ci/run installs it): ", err)
	}
	cli := testenv.CLI(t)
	src := t.TempDir()
	envFile := filepath.Join(src, "secrets.env")
	if err := os.WriteFile(envFile, []byte("TOKEN="+canary+"\nJSON={\"pw\":\""+canary+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	work, home, tmp, traces := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + tmp,
		"TOKEN=$<TOKEN>", "URL=https://app:$<JSON#pw>@db/app"}
	ef := []string{"--env-file", envFile}
	type test struct {
		name    string
		env     []string
		args    []string
		control bool
	}
	tests := []test{
		{name: "check", args: append([]string{"check"}, ef...)},
		{name: "check with a failure", env: []string{"BAD=$<JSON#nope>"}, args: append([]string{"check"}, ef...)},
		{name: "run", args: append(append([]string{"run", "--log-level", "debug"}, ef...), "--", "true")},
		{name: "run json log", args: append(append([]string{"run", "--log-format", "json", "--log-level", "debug"}, ef...), "--", "true")},
		{name: "run, child fails", args: append(append([]string{"run"}, ef...), "--", "false")},
		{name: "run, command not found", args: append(append([]string{"run"}, ef...), "--", "/no/such/cmd")},
		{name: "run, malformed reference", env: []string{"BAD=" + canary + "$<TOKEN"}, args: append(append([]string{"run"}, ef...), "--", "true")},
		{name: "run, field of a text secret", env: []string{"BAD=$<TOKEN#field>"}, args: append(append([]string{"run"}, ef...), "--", "true")},
		{name: "run, short timeout", args: append(append([]string{"run", "--timeout", "1ns"}, ef...), "--", "true")},
		{name: "exec", args: append(append([]string{"exec"}, ef...), "--", "true")},
		{name: "exec, reference in argv refused", args: append(append([]string{"exec"}, ef...), "--", "echo", "$<TOKEN>")},
		// The control: a child that writes the value is seen, so the trace
		// would show a launcher that did.
		{name: "control: the child writes it", args: append(append([]string{"run"}, ef...), "--", "sh", "-c", `printf %s "$TOKEN" > /dev/null`), control: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trace := filepath.Join(traces, strings.ReplaceAll(tt.name, " ", "_")+".trace")
			args := append([]string{"-f", "-qq", "-s", "1000000", "-o", trace,
				"-e", "trace=write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,sendmmsg,open,openat,creat,rename,renameat,renameat2",
				cli}, tt.args...)
			cmd := exec.Command(strace, args...)
			cmd.Env = append(append([]string{}, base...), tt.env...)
			cmd.Dir = work
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run() // failing commands are part of the test; their output is checked
			for name, out := range map[string][]byte{"stdout": stdout.Bytes(), "stderr": stderr.Bytes()} {
				if leaked(out) {
					t.Errorf("%s shows the secret:\n%s", name, out)
				}
			}
			writes, opens := readTrace(t, trace)
			if tt.control {
				if len(writes) == 0 {
					t.Errorf("the trace does not show the child's write of the value: the test cannot see a leak")
				}
				return
			}
			for _, w := range writes {
				t.Errorf("a syscall carries the secret: %.300s", w)
			}
			for _, o := range opens {
				t.Errorf("a file is opened for writing: %.300s", o)
			}
		})
	}
	for _, dir := range []string{work, home, tmp} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if b, err := os.ReadFile(path); err == nil && leaked(b) {
				t.Errorf("%s holds the secret", path)
			}
			return nil
		})
	}
}

func leaked(b []byte) bool {
	return bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte(canary))[:20]))
}

var openForWrite = regexp.MustCompile(`^\d+ +(open|openat|creat)\(.*(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC)`)

// readTrace reads an strace log: the syscalls that carry the secret, and
// the files opened for writing (/dev/null and terminals aside).
func readTrace(t *testing.T, path string) (writes, opens []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		lines++
		if leaked([]byte(line)) {
			writes = append(writes, line)
		}
		if openForWrite.MatchString(line) && !strings.Contains(line, `"/dev/null"`) && !strings.Contains(line, `"/dev/tty"`) {
			opens = append(opens, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines == 0 {
		t.Fatalf("%s: strace recorded nothing", path)
	}
	return writes, opens
}
