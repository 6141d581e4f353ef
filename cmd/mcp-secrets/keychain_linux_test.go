// set and wrap --to keychain: against a real Secret Service; secret-tool,
// an independent client, reads back what they stored.

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

func TestSet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	bin := testenv.CLI(t)
	ss := testenv.SecretService(t)
	ss.Store(t, "mcp", "json", `{"OTHER":"kept"}`)
	ss.Store(t, "mcp", "text", "plain text")
	locked := testenv.SecretService(t)
	locked.Lock(t)
	noBus := []string{"XDG_RUNTIME_DIR=" + t.TempDir()}

	type item struct{ service, account, value string }
	tests := []struct {
		name  string
		env   []string
		ref   string
		stdin string
		code  int
		item  *item  // what secret-tool then reads; nil: the item in ref's place must not exist
		dot   string // what .env then holds
		out   string // in stdout or stderr
	}{
		{name: "keychain, piped from echo", env: ss.Env(), ref: "$<keychain:github/echo>", stdin: "tok-echo-1\n",
			item: &item{"github", "echo", "tok-echo-1"}, out: "stored $<keychain:github/echo> to…(10 chars)"},
		{name: "keychain, piped from printf", env: ss.Env(), ref: "$<keychain:github/printf>", stdin: "tok-printf-2",
			item: &item{"github", "printf", "tok-printf-2"}},
		{name: "keychain, CRLF", env: ss.Env(), ref: "$<keychain:github/crlf>", stdin: "tok-crlf-3\r\n",
			item: &item{"github", "crlf", "tok-crlf-3"}},
		{name: "one newline dropped, not two", env: ss.Env(), ref: "$<keychain:pem/key>", stdin: "line 1\nline 2\n\n",
			item: &item{"pem", "key", "line 1\nline 2\n"}},
		{name: "#field added to a JSON item", env: ss.Env(), ref: "$<keychain:mcp/json#TOKEN>", stdin: "tok-json-4\n",
			item: &item{"mcp", "json", `{"OTHER":"kept","TOKEN":"tok-json-4"}`}},
		{name: "#field of a new item", env: ss.Env(), ref: "$<keychain:mcp/new#TOKEN>", stdin: "tok-new-5",
			item: &item{"mcp", "new", `{"TOKEN":"tok-new-5"}`}},
		{name: "#field of a text item", env: ss.Env(), ref: "$<keychain:mcp/text#TOKEN>", stdin: "tok-6", code: 78,
			item: &item{"mcp", "text", "plain text"}, out: "storing $<keychain:mcp/text#TOKEN>: the secret exists and is not a JSON object of strings"},
		{name: "dotenv", ref: "$<GITHUB_TOKEN>", stdin: "tok-dotenv-7\n", dot: "GITHUB_TOKEN='tok-dotenv-7'\n"},
		{name: "empty", env: ss.Env(), ref: "$<keychain:github/empty>", stdin: "\n", code: 65, out: "the value read from stdin is empty"},
		{name: "NUL byte", env: ss.Env(), ref: "$<keychain:github/nul>", stdin: "a\x00b", code: 65, out: "NUL byte"},
		{name: "locked", env: locked.Env(), ref: "$<keychain:github/locked>", stdin: "tok-8", code: 69, out: "the keyring is locked"},
		{name: "no bus", env: noBus, ref: "$<keychain:github/nobus>", stdin: "tok-9", code: 69, out: "no D-Bus session bus"},
		{name: "the value as the argument", env: ss.Env(), ref: "tok-argument-10", stdin: "x", code: 64,
			out: "the argument must be one reference, such as '$<keychain:github/token>'; the value is read from stdin"},
		{name: "a version", env: ss.Env(), ref: "$<keychain:github/v?version=1>", stdin: "x", code: 64, out: "drop ?version="},
		{name: "a whole AWS secret", ref: "$<aws:prod/db>", stdin: "x", code: 64, out: "aws keeps a JSON object here: name a key, $<aws:prod/db#KEY>"},
		{name: "a provider that cannot store", ref: "$<env:HOME>", stdin: "x", code: 64, out: "provider env cannot store values"},
	}
	values := []string{"tok-echo-1", "tok-printf-2", "tok-crlf-3", "tok-json-4", "tok-new-5", "tok-6", "tok-dotenv-7", "tok-8", "tok-9", "tok-argument-10"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bin, "set", tt.ref)
			cmd.Dir = dir
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, tt.env...)
			cmd.Stdin = strings.NewReader(tt.stdin)
			stdout, stderr, code := testenv.Run(t, cmd)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, tt.out) {
				t.Errorf("output does not say %q:\n%s%s", tt.out, stdout, stderr)
			}
			for _, v := range values {
				if strings.Contains(stdout+stderr, v) {
					t.Errorf("the output shows a value:\n%s%s", stdout, stderr)
				}
			}
			switch {
			case tt.item != nil:
				if v, ok := ss.Lookup(t, tt.item.service, tt.item.account); !ok || v != tt.item.value {
					t.Errorf("secret-tool reads %q (%v), want %q", v, ok, tt.item.value)
				}
			case strings.HasPrefix(tt.ref, "$<keychain:"):
				service, account, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(tt.ref, "$<keychain:"), ">"), "/")
				if _, ok := ss.Lookup(t, service, account); ok {
					t.Errorf("an item was stored")
				}
			}
			if tt.dot != "" {
				b, _ := os.ReadFile(filepath.Join(dir, ".env"))
				if fi, err := os.Stat(filepath.Join(dir, ".env")); err != nil || fi.Mode().Perm() != 0o600 || !strings.HasSuffix(string(b), tt.dot) {
					t.Errorf(".env holds %q (%v), want it to end with %q, mode 600", b, err, tt.dot)
				}
			}
		})
	}
}

// On a terminal set asks for the value without echoing it, and Ctrl-C
// leaves the terminal's echo on. The control is a shell's `read`, which
// echoes: the test would see an echo.
func TestSetTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	bin := testenv.CLI(t)
	ss := testenv.SecretService(t)
	const typed = "typed-on-the-terminal-1"
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, ss.Env()...)

	t.Run("control: a shell's read echoes", func(t *testing.T) {
		term := startOnTerminal(t, env, "sh", "-c", `printf 'Value: '; read v`)
		term.waitFor("Value: ")
		term.write(typed + "\r")
		if code := term.wait(); code != 0 || !strings.Contains(term.output(), typed) {
			t.Fatalf("exit %d; the terminal shows %q: the test cannot see an echo", code, term.output())
		}
	})
	t.Run("no echo", func(t *testing.T) {
		term := startOnTerminal(t, env, bin, "set", "$<keychain:github/typed>")
		term.waitFor("Value for $<keychain:github/typed> (not shown): ")
		term.write(typed + "\r")
		if code := term.wait(); code != 0 {
			t.Fatalf("exit %d; the terminal shows %q", code, term.output())
		}
		if strings.Contains(term.output(), typed) {
			t.Errorf("the terminal shows the value: %q", term.output())
		}
		if v, _ := ss.Lookup(t, "github", "typed"); v != typed {
			t.Errorf("secret-tool reads %q", v)
		}
	})
	t.Run("Ctrl-C", func(t *testing.T) {
		term := startOnTerminal(t, env, bin, "set", "$<keychain:github/interrupted>")
		term.waitFor("(not shown): ")
		if term.echo() {
			t.Fatal("echo is on while set waits for the value")
		}
		term.write("\x03")
		if code := term.wait(); code != 130 {
			t.Errorf("exit %d, want 130", code)
		}
		if !term.echo() {
			t.Error("set left the terminal without echo")
		}
		if _, ok := ss.Lookup(t, "github", "interrupted"); ok {
			t.Error("an item was stored")
		}
	})
}

// terminal is a process on a pseudo-terminal, as a person's shell runs it.
type terminal struct {
	t     *testing.T
	pty   *os.File // the terminal's side
	tty   *os.File // the process's side, kept open to read its modes
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   bytes.Buffer // all the terminal showed
	ended chan struct{}
}

func startOnTerminal(t *testing.T, env []string, name string, args ...string) *terminal {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pty.Close() })
	if err := unix.IoctlSetPointerInt(int(pty.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(pty.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	term := &terminal{t: t, pty: pty, tty: tty, ended: make(chan struct{})}
	term.cmd = exec.Command(name, args...)
	term.cmd.Env = env
	term.cmd.Stdin, term.cmd.Stdout, term.cmd.Stderr = tty, tty, tty
	// Its own session with the terminal as its controlling one: Ctrl-C
	// reaches it as SIGINT.
	term.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := term.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		term.cmd.Process.Kill()
		<-term.ended
	})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		term.cmd.Wait()
		close(term.ended)
	}()
	return term
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

func (term *terminal) waitFor(s string) {
	term.t.Helper()
	testenv.WaitFor(term.t, fmt.Sprintf("%q on the terminal (it shows %q)", s, term.output()), 10*time.Second, func() bool { return strings.Contains(term.output(), s) })
}

func (term *terminal) write(s string) {
	term.t.Helper()
	if _, err := term.pty.WriteString(s); err != nil {
		term.t.Fatal(err)
	}
}

// wait waits for the process to end and returns its exit code.
func (term *terminal) wait() int {
	term.t.Helper()
	select {
	case <-term.ended:
	case <-time.After(10 * time.Second):
		term.t.Fatalf("still running; the terminal shows %q", term.output())
	}
	time.Sleep(50 * time.Millisecond) // the last of its output
	return term.cmd.ProcessState.ExitCode()
}

// echo reports whether the terminal echoes what is typed.
func (term *terminal) echo() bool {
	term.t.Helper()
	tio, err := unix.IoctlGetTermios(int(term.tty.Fd()), unix.TCGETS)
	if err != nil {
		term.t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// wrap --to keychain:SERVICE stores each server's secrets as one item,
// account = the server, that secret-tool reads back; each rewritten entry
// hands its child what the original did; a second wrap changes nothing.
func TestWrapKeychain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	bin := testenv.CLI(t)
	ss := testenv.SecretService(t)
	dir := t.TempDir()
	dump := filepath.Join(dir, "dump")
	os.Mkdir(dump, 0o755)
	config := filepath.Join(dir, "claude_desktop_config.json")
	os.WriteFile(config, []byte(roundTripConfig(dump)), 0o644)
	want := map[string]started{}
	for _, s := range servers {
		want[s] = launchEntry(t, config, s, nil)
	}

	out, errOut, code := runCLI(t, bin, ss.Env(), "wrap", "--to", "keychain:mcp", "--yes", config)
	if code != 0 {
		t.Fatalf("wrap: exit %d\n%s\n%s", code, out, errOut)
	}
	rewritten := readFile(t, config)
	leakCheck(t, "wrap's output", out+errOut)
	leakCheck(t, "the rewritten config", rewritten)
	if !strings.Contains(rewritten, `"$<keychain:mcp/github#GITHUB_PERSONAL_ACCESS_TOKEN>"`) {
		t.Errorf("rewritten:\n%s", rewritten)
	}
	var items []string
	for _, s := range servers {
		v, ok := ss.Lookup(t, "mcp", s)
		if !ok {
			t.Fatalf("secret-tool finds no item mcp/%s", s)
		}
		items = append(items, v)
	}
	if got := jsonValues(t, items...); !slices.Equal(got, movedValues()) {
		t.Errorf("the keychain holds %d values, not the %d moved", len(got), len(movedValues()))
	}
	for _, s := range servers {
		got := launchEntry(t, config, s, ss.Env())
		if !slices.Equal(got.args, want[s].args) {
			t.Errorf("%s: the child's arguments differ from the original's", s)
		}
		for k, v := range want[s].env {
			if got.env[k] != v {
				t.Errorf("%s: the child's %s differs from the original's", s, k)
			}
		}
	}
	out, errOut, code = runCLI(t, bin, ss.Env(), "wrap", "--to", "keychain:mcp", "--yes", config)
	if code != 0 || out != "" || !strings.Contains(errOut, "nothing to wrap") || readFile(t, config) != rewritten {
		t.Errorf("a second wrap: exit %d\n%s%s", code, out, errOut)
	}
}
