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
// launcher makes (but set's to the keychain, over the session bus); and
// that the launcher opens no file for writing.
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
	ss := testenv.SecretService(t)
	ss.Store(t, "leak", "token", canary)
	ss.Store(t, "leak", "json", `{"pw":"`+canary+`"}`)
	bus := strings.TrimPrefix(ss.Addr, "unix:path=")
	kc := append(ss.Env(), "KC=$<keychain:leak/token>", "KJ=x-$<keychain:leak/json#pw>")
	work, home, tmp, traces := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + tmp,
		"TOKEN=$<TOKEN>", "URL=https://app:$<JSON#pw>@db/app"}
	ef := []string{"--env-file", envFile}
	type test struct {
		name    string
		code    int // the exit code: the path taken is the one named
		env     []string
		args    []string
		stdin   string
		control bool
		// toBus: set hands the value to the keychain over the session bus,
		// the one write that may carry it; the trace must show it.
		toBus bool
	}
	tests := []test{
		{name: "check", code: 0, args: append([]string{"check"}, ef...)},
		{name: "check with a failure", code: 78, env: []string{"BAD=$<JSON#nope>"}, args: append([]string{"check"}, ef...)},
		{name: "run", code: 0, args: append(append([]string{"run", "--log-level", "debug"}, ef...), "--", "true")},
		{name: "run json log", code: 0, args: append(append([]string{"run", "--log-format", "json", "--log-level", "debug"}, ef...), "--", "true")},
		{name: "run, child fails", code: 1, args: append(append([]string{"run"}, ef...), "--", "false")},
		{name: "run, command not found", code: 127, args: append(append([]string{"run"}, ef...), "--", "/no/such/cmd")},
		{name: "run, malformed reference", code: 65, env: []string{"BAD=" + canary + "$<TOKEN"}, args: append(append([]string{"run"}, ef...), "--", "true")},
		{name: "run, field of a text secret", code: 78, env: []string{"BAD=$<TOKEN#field>"}, args: append(append([]string{"run"}, ef...), "--", "true")},
		{name: "run, short timeout", code: 0, args: append(append([]string{"run", "--timeout", "1ns"}, ef...), "--", "true")},
		{name: "exec", code: 0, args: append(append([]string{"exec"}, ef...), "--", "true")},
		{name: "exec, reference in argv refused", code: 78, args: append(append([]string{"exec"}, ef...), "--", "echo", "$<TOKEN>")},
		{name: "check, keychain", code: 0, env: kc, args: append([]string{"check"}, ef...)},
		{name: "run, keychain", code: 0, env: kc, args: append(append([]string{"run", "--log-level", "debug"}, ef...), "--", "true")},
		{name: "run, keychain polled", code: 0, env: kc, args: append(append([]string{"run", "--log-level", "debug", "--poll-interval", "50ms"}, ef...), "--", "sleep", "0.5")},
		{name: "exec, keychain", code: 0, env: kc, args: append(append([]string{"exec"}, ef...), "--", "true")},
		{name: "run, keychain item not found", code: 78, env: append(ss.Env(), "BAD=$<keychain:leak/nope>"), args: append(append([]string{"run"}, ef...), "--", "true")},
		{name: "run, no bus", code: 69, env: []string{"KC=$<keychain:leak/token>"}, args: append(append([]string{"run", "--fallback", "off"}, ef...), "--", "true")},
		{name: "set to the keychain", code: 0, env: ss.Env(), stdin: canary + "\n", args: []string{"set", "$<keychain:leak/stored>"}, toBus: true},
		{name: "set to the keychain, #field", code: 0, env: ss.Env(), stdin: canary, args: []string{"set", "$<keychain:leak/set-json#pw>"}, toBus: true},
		{name: "set, no bus", code: 69, stdin: canary, args: []string{"set", "$<keychain:leak/stored>"}},
		{name: "set, the value as an argument refused", code: 64, env: ss.Env(), args: []string{"set", canary}},
		// The control: a child that writes the value is seen, so the trace
		// would show a launcher that did.
		{name: "control: the child writes it", code: 0, args: append(append([]string{"run"}, ef...), "--", "sh", "-c", `printf %s "$TOKEN" > /dev/null`), control: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trace := filepath.Join(traces, strings.ReplaceAll(tt.name, " ", "_")+".trace")
			args := append([]string{"-f", "-qq", "-s", "1000000", "-o", trace,
				"-yy", "-e", "trace=write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,sendmmsg,open,openat,creat,rename,renameat,renameat2,connect",
				cli}, tt.args...)
			cmd := exec.Command(strace, args...)
			cmd.Env = append(append([]string{}, base...), tt.env...)
			cmd.Dir = work
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run() // failing commands are part of the test; their output is checked
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for name, out := range map[string][]byte{"stdout": stdout.Bytes(), "stderr": stderr.Bytes()} {
				if leaked(out) {
					t.Errorf("%s shows the secret:\n%s", name, out)
				}
			}
			writes, toBus, opens := readTrace(t, trace, bus)
			if tt.toBus && len(toBus) == 0 {
				t.Errorf("the trace does not show the value sent to the keychain: the test cannot see where it goes")
			}
			if !tt.toBus && len(toBus) > 0 {
				writes = append(writes, toBus...)
			}
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

var (
	// connect(7<UNIX-STREAM:[740436]>, {sa_family=AF_UNIX, sun_path="/tmp/bus1/bus"}, 15)
	connectUnix = regexp.MustCompile(`^\d+ +connect\(\d+<UNIX-STREAM:\[(\d+)\]>, \{sa_family=AF_UNIX, sun_path="([^"]*)"`)
	// write(7<UNIX-STREAM:[740436->740112]>, ...
	onUnix = regexp.MustCompile(`^\d+ +\w+\(\d+<UNIX-STREAM:\[(\d+)->`)
)

// readTrace reads an strace log (-yy): the syscalls that carry the secret,
// to the session bus at bus and elsewhere, and the files opened for
// writing (/dev/null, terminals and its own descriptors aside).
func readTrace(t *testing.T, path, bus string) (writes, toBus, opens []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	lines := 0
	busSockets := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		lines++
		if m := connectUnix.FindStringSubmatch(line); m != nil && m[2] == bus {
			busSockets[m[1]] = true
		}
		if leaked([]byte(line)) {
			if m := onUnix.FindStringSubmatch(line); m != nil && busSockets[m[1]] {
				toBus = append(toBus, line)
			} else {
				writes = append(writes, line)
			}
		}
		// /proc/self/fd/N is one of the launcher's own descriptors (the
		// client's pipes) opened again: no new file.
		if openForWrite.MatchString(line) && !strings.Contains(line, `"/dev/null"`) && !strings.Contains(line, `"/dev/tty"`) && !strings.Contains(line, `"/proc/self/fd/`) {
			opens = append(opens, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines == 0 {
		t.Fatalf("%s: strace recorded nothing", path)
	}
	return writes, toBus, opens
}
