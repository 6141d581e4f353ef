package remote_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// Tokens long enough to be redacted, distinct from each other.
const (
	e2eTokenA = "e2e-A-5c1f0e9d8c7b6a5f"
	e2eTokenB = "e2e-B-9e8d7c6b5a4f3e2d"
)

// connectWorld is a directory with a .env, the CLI, and what the launcher
// wrote on stderr.
type connectWorld struct {
	t      *testing.T
	dir    string
	cli    string
	stderr *testenv.Buffer
}

func newConnectWorld(t *testing.T) *connectWorld {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts the CLI and remote MCP servers")
	}
	w := &connectWorld{t: t, dir: t.TempDir(), cli: testenv.CLI(t), stderr: &testenv.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("launcher stderr:\n%s", w.stderr)
		}
	})
	return w
}

func (w *connectWorld) writeEnv(content string) {
	w.t.Helper()
	tmp := filepath.Join(w.dir, ".env.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, ".env")); err != nil {
		w.t.Fatal(err)
	}
}

// command is `mcp-secrets connect [flags] URL` as an MCP client starts it.
func (w *connectWorld) command(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(w.cli, append([]string{"connect", "--log-level", "debug"}, args...)...)
	cmd.Dir = w.dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir}, env...)
	cmd.Stderr = w.stderr
	return cmd
}

// connect starts a Go SDK client session through cmd, at version ("" is
// the SDK's default, 2026-07-28).
func connect(t *testing.T, cmd *exec.Cmd, version string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "connect-e2e", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// cmdline is a process's argv as /proc shows it to every user.
func cmdline(t *testing.T, pid int) []byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var generations = []struct {
	name      string
	stateless bool
	version   string
}{
	{"2025-11-25 sessions", false, "2025-11-25"},
	{"2026-07-28 stateless", true, ""},
}

// The real binary between the Go SDK client and a remote server behind a
// bearer token from a store (a .env edit, a Vault KV v2 path): tools work;
// the token rotates in the store and on the server and the same session
// goes on, with the new token from the next request on and no new
// initialize; the token is in no argv, log or client output.
func TestConnectRotation(t *testing.T) {
	vault := testenv.Vault(t)
	stores := []struct {
		name   string
		ref    string
		env    []string
		rotate func(w *connectWorld, token string)
	}{
		{"dotenv", "$<dotenv:REMOTE_TOKEN>", nil, func(w *connectWorld, token string) {
			w.writeEnv("REMOTE_TOKEN=" + token + "\n")
		}},
		{"vault", "$<vault:secret/remote/mcp#token>", []string{"VAULT_ADDR=" + vault.Addr, "VAULT_TOKEN=" + vault.Token}, func(w *connectWorld, token string) {
			vault.Write(w.t, "secret/remote/mcp", map[string]any{"token": token})
		}},
	}
	for _, st := range stores {
		for _, g := range generations {
			t.Run(st.name+" "+g.name, func(t *testing.T) {
				w := newConnectWorld(t)
				st.rotate(w, e2eTokenA)
				remote := testenv.Remote(t, testenv.RemoteOptions{Stateless: g.stateless, Token: e2eTokenA})
				cmd := w.command(st.env, "--poll-interval", "200ms", "--debounce", "50ms", "--debounce-max", "200ms",
					"--header", "Authorization: Bearer "+st.ref, remote.URL)
				cs := connect(t, cmd, g.version)
				if _, err := cs.ListTools(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
				if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "hi"}); err != nil || got != "Echo: hi" {
					t.Fatalf("echo: %q, %v", got, err)
				}
				if got, err := testenv.CallTool(t, cs, "get-env", nil); err != nil || !strings.Contains(got, testenv.Digest(e2eTokenA)) {
					t.Fatalf("get-env: %q, %v; want the first token's digest", got, err)
				}
				argv := cmdline(t, cmd.Process.Pid)
				if !bytes.Contains(argv, []byte(st.ref)) || bytes.Contains(argv, []byte(e2eTokenA)) {
					t.Errorf("the launcher's argv %q: want the reference, not the token", argv)
				}

				// The store first: the watcher takes the new value; then the
				// server, which refuses the old one from now on.
				st.rotate(w, e2eTokenB)
				testenv.WaitFor(t, "the new value", 10*time.Second, func() bool { return strings.Contains(w.stderr.String(), "new values") })
				remote.SetToken(e2eTokenB)
				if got, err := testenv.CallTool(t, cs, "get-env", nil); err != nil || !strings.Contains(got, testenv.Digest(e2eTokenB)) {
					t.Fatalf("get-env after the rotation: %q, %v; want the new token's digest", got, err)
				}
				if n := remote.Refused("tools/call"); n != 0 {
					t.Errorf("%d calls refused: the new token goes from the next request on", n)
				}
				// 2026-07-28 has no initialize: the session is the client's.
				if n := remote.Calls("initialize"); n > 1 || !g.stateless && n != 1 {
					t.Errorf("%d initialize requests at the remote: the session goes on", n)
				}
				// What the server sends back is redacted (the control, the
				// token itself, is TestConnectLeakControl).
				if got, err := testenv.CallTool(t, cs, "leak", nil); err != nil || strings.Contains(got, e2eTokenB) || !strings.Contains(got, "[REDACTED") {
					t.Errorf("leak through connect: %q, %v; want a redaction marker", got, err)
				}
				for _, tok := range []string{e2eTokenA, e2eTokenB} {
					if strings.Contains(w.stderr.String(), tok) || bytes.Contains(cmdline(t, cmd.Process.Pid), []byte(tok)) {
						t.Errorf("a token reached the launcher's stderr or argv")
					}
				}
			})
		}
	}
}

// The checks of TestConnectRotation can fail: a literal token in --header
// is in the launcher's argv, and with --redact=false the server's leak
// reaches the client.
func TestConnectLeakControl(t *testing.T) {
	w := newConnectWorld(t)
	remote := testenv.Remote(t, testenv.RemoteOptions{Token: e2eTokenA})
	cmd := w.command(nil, "--redact=false", "--header", "Authorization: Bearer "+e2eTokenA, remote.URL)
	cs := connect(t, cmd, "2025-11-25")
	if !bytes.Contains(cmdline(t, cmd.Process.Pid), []byte(e2eTokenA)) {
		t.Error("a literal token is not seen in the launcher's argv")
	}
	if got, err := testenv.CallTool(t, cs, "leak", nil); err != nil || got != e2eTokenA {
		t.Errorf("leak with --redact=false: %q, %v; want the token", got, err)
	}
}

// The TypeScript SDK client (Claude Desktop's and most clients'), started
// as such clients start a stdio server, through connect: tools work, the
// token rotates in the .env and on the server in the same session, and no
// token reaches what the client got.
func TestConnectTypeScriptClient(t *testing.T) {
	w := newConnectWorld(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the TypeScript SDK client: ", err)
	}
	w.writeEnv("REMOTE_TOKEN=" + e2eTokenA + "\n")
	remote := testenv.Remote(t, testenv.RemoteOptions{Token: e2eTokenA})
	cmd := exec.Command(node, filepath.Join(testenv.ModuleRoot(t), "tools", "npm", "ts-client.mjs"),
		w.cli, "connect", "--log-level", "info", "--debounce", "50ms", "--debounce-max", "200ms",
		"--header", "Authorization: Bearer $<dotenv:REMOTE_TOKEN>", remote.URL)
	cmd.Env = append(os.Environ(), "MCP_TEST_CWD="+w.dir)
	cmd.Stderr = w.stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	var got bytes.Buffer
	steps := bufio.NewScanner(io.TeeReader(out, &got))
	next := func(want string) string {
		t.Helper()
		if !steps.Scan() {
			t.Fatalf("the TypeScript client ended before %q", want)
		}
		var s struct {
			Step  string
			Value json.RawMessage
		}
		if err := json.Unmarshal(steps.Bytes(), &s); err != nil || s.Step != want {
			t.Fatalf("step %q, want %q (%v)", steps.Text(), want, err)
		}
		return string(s.Value)
	}
	if tools := next("tools"); !strings.Contains(tools, `"get-env"`) || !strings.Contains(tools, `"echo"`) {
		t.Errorf("tools = %s", tools)
	}
	if echo := next("echo"); echo != `"Echo: hello"` {
		t.Errorf("echo = %s", echo)
	}
	if env := next("env"); !strings.Contains(env, testenv.Digest(e2eTokenA)) {
		t.Errorf("get-env = %s; want the first token's digest", env)
	}
	next("ready")
	w.writeEnv("REMOTE_TOKEN=" + e2eTokenB + "\n")
	testenv.WaitFor(t, "the new value", 10*time.Second, func() bool { return strings.Contains(w.stderr.String(), "new values") })
	remote.SetToken(e2eTokenB)
	in.Write([]byte("next\n"))
	if env := next("env"); !strings.Contains(env, testenv.Digest(e2eTokenB)) {
		t.Errorf("get-env after the rotation = %s; want the new token's digest", env)
	}
	next("ready")
	in.Close()
	next("done")
	if n := remote.Calls("initialize"); n != 1 {
		t.Errorf("%d initialize requests at the remote, want 1: the session goes on", n)
	}
	for _, tok := range []string{e2eTokenA, e2eTokenB} {
		if strings.Contains(got.String(), tok) || strings.Contains(w.stderr.String(), tok) {
			t.Error("a token reached the client or the launcher's stderr")
		}
	}
}

// A token rotated in Vault and on the server before any poll saw it: the
// call refused with 401 is sent once more with a fresh resolution and
// succeeds, in the same session. The control: rotated on the server only,
// the call fails with the refusal.
func TestConnectRetriesAfterRotation(t *testing.T) {
	vault := testenv.Vault(t)
	w := newConnectWorld(t)
	vault.Write(t, "secret/remote/retry", map[string]any{"token": e2eTokenA})
	remote := testenv.Remote(t, testenv.RemoteOptions{Token: e2eTokenA})
	cmd := w.command([]string{"VAULT_ADDR=" + vault.Addr, "VAULT_TOKEN=" + vault.Token}, "--poll-interval", "1h",
		"--header", "Authorization: Bearer $<vault:secret/remote/retry#token>", remote.URL)
	cs := connect(t, cmd, "2025-11-25")
	if _, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "1"}); err != nil {
		t.Fatal(err)
	}
	vault.Write(t, "secret/remote/retry", map[string]any{"token": e2eTokenB})
	remote.SetToken(e2eTokenB)
	if got, err := testenv.CallTool(t, cs, "get-env", nil); err != nil || !strings.Contains(got, testenv.Digest(e2eTokenB)) {
		t.Fatalf("get-env right after the rotation: %q, %v; want the new token's digest", got, err)
	}
	if n := remote.Refused("tools/call"); n != 1 {
		t.Errorf("%d calls refused, want 1: the first try carried the old token", n)
	}
	if !strings.Contains(w.stderr.String(), "trying once more") {
		t.Error("no log line of the second try")
	}
	if n := remote.Calls("initialize"); n != 1 {
		t.Errorf("%d initialize requests at the remote, want 1", n)
	}

	time.Sleep(5 * time.Second) // past the bound on fresh resolutions
	remote.SetToken("e2e-C-never-in-the-store")
	if _, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "x"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("echo with a token the server no longer takes: %v; want an error naming the 401", err)
	}
}
