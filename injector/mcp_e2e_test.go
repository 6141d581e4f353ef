package injector_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// world is a directory with a .env, the CLI and the example Go server.
type world struct {
	t         *testing.T
	dir       string
	cli       string
	envserver string
	stderr    *testenv.Buffer
}

func newWorld(t *testing.T, dotenv string) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts real MCP servers")
	}
	w := &world{t: t, dir: t.TempDir(), cli: testenv.CLI(t), stderr: &testenv.Buffer{}}
	w.envserver = testenv.Build(t, "github.com/mcp-secrets/mcp-secrets/examples/envserver", "envserver")
	w.writeEnv(dotenv)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("launcher stderr:\n%s", w.stderr.String())
		}
	})
	return w
}

func (w *world) writeEnv(content string) {
	w.t.Helper()
	tmp := filepath.Join(w.dir, ".env.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, ".env")); err != nil {
		w.t.Fatal(err)
	}
}

// command is `mcp-secrets run [flags] -- server...` as an MCP client
// starts it: references in the environment, launcher logs on stderr.
func (w *world) command(env []string, flags []string, server ...string) *exec.Cmd {
	args := append(append([]string{"run", "--log-level", "debug"}, flags...), "--")
	cmd := exec.Command(w.cli, append(args, server...)...)
	cmd.Dir = w.dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir}, env...)
	cmd.Stderr = w.stderr
	return cmd
}

// connect starts a Go SDK client session through the launcher.
func (w *world) connect(cmd *exec.Cmd, protocol string) *mcp.ClientSession {
	w.t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, nil)
	var opts *mcp.ClientSessionOptions
	if protocol != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: protocol}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, opts)
	if err != nil {
		w.t.Fatalf("connect: %v", err)
	}
	w.t.Cleanup(func() { cs.Close() })
	return cs
}

// Both protocol generations, across a rotation: the next call succeeds in
// the same session, without a new initialize, and sees the new value.
func TestRotationKeepsTheSession(t *testing.T) {
	for _, protocol := range []string{"2025-11-25", ""} {
		name := protocol
		if name == "" {
			name = "2026-07-28 (the SDK's default)"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, "TOKEN=first-secret-value\n")
			cs := w.connect(w.command([]string{"TOKEN=$<TOKEN>"}, []string{"--debounce", "50ms"}, w.envserver), protocol)
			got, err := testenv.CallTool(t, cs, "get_env", map[string]any{"name": "TOKEN", "encoding": "sha256"})
			if err != nil || got != testenv.Digest("first-secret-value") {
				t.Fatalf("before: %q, %v", got, err)
			}
			w.writeEnv("TOKEN=second-secret-value\n")
			testenv.WaitFor(t, "the restart", 10*time.Second, func() bool { return strings.Contains(w.stderr.String(), "restart finished") })
			got, err = testenv.CallTool(t, cs, "get_env", map[string]any{"name": "TOKEN", "encoding": "sha256"})
			if err != nil || got != testenv.Digest("second-secret-value") {
				t.Fatalf("after: %q, %v", got, err)
			}
			if n := strings.Count(w.stderr.String(), "restart finished"); n != 1 {
				t.Errorf("%d restarts", n)
			}
		})
	}
}

// A call in flight when the old server must go gets the documented error;
// the session goes on.
func TestInFlightCallGetsTheRestartError(t *testing.T) {
	w := newWorld(t, "TOKEN=first-secret-value\n")
	cs := w.connect(w.command([]string{"TOKEN=$<TOKEN>"}, []string{"--debounce", "50ms", "--stop-timeout", "500ms"}, w.envserver), "2025-11-25")
	errc := make(chan error, 1)
	go func() {
		_, err := testenv.CallTool(t, cs, "sleep", map[string]any{"ms": 10000})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	w.writeEnv("TOKEN=second-secret-value\n")
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "restarted after a secret rotation") {
			t.Fatalf("in-flight call: %v, want the restart error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the in-flight call got no answer")
	}
	if got, err := testenv.CallTool(t, cs, "get_env", map[string]any{"name": "TOKEN", "encoding": "sha256"}); err != nil || got != testenv.Digest("second-secret-value") {
		t.Fatalf("after: %q, %v", got, err)
	}
}

// Twenty rotations in a row under continuous calls: none fails, and the
// session is usable after.
func TestTwentyRotationsUnderLoad(t *testing.T) {
	w := newWorld(t, "TOKEN=value-0\n")
	cs := w.connect(w.command([]string{"TOKEN=$<TOKEN>"}, []string{"--debounce", "20ms", "--debounce-max", "100ms"}, w.envserver), "2025-11-25")
	var calls, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := testenv.CallTool(t, cs, "echo", map[string]any{"text": "ping"}); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				calls.Add(1)
			}
		})
	}
	for i := 1; i <= 20; i++ {
		w.writeEnv(fmt.Sprintf("TOKEN=value-%d\n", i))
		testenv.WaitFor(t, fmt.Sprintf("restart %d", i), 20*time.Second, func() bool {
			return strings.Count(w.stderr.String(), "restart finished") >= i
		})
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d calls failed during 20 rotations; first: %v", failed.Load(), calls.Load(), firstErr.Load())
	}
	if got, err := testenv.CallTool(t, cs, "get_env", map[string]any{"name": "TOKEN", "encoding": "sha256"}); err != nil || got != testenv.Digest("value-20") {
		t.Fatalf("after 20 rotations: %q, %v", got, err)
	}
	t.Logf("%d calls during 20 rotations", calls.Load())
}

// Every form of a value the server sends is redacted, in its stdout and its
// stderr; the client still gets valid JSON.
func TestRedaction(t *testing.T) {
	const token = "tok-0123456789abcdef"
	const quoted = `pa"ss\word-0123`
	w := newWorld(t, "TOKEN="+token+"\nQUOTED='"+quoted+"'\n")
	cs := w.connect(w.command([]string{"TOKEN=$<TOKEN>", "QUOTED=$<QUOTED>"}, nil, w.envserver), "")
	for _, tt := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"name": "TOKEN"}, "[REDACTED:TOKEN]"},
		{map[string]any{"name": "TOKEN", "encoding": "base64"}, "[REDACTED:TOKEN]"},
		{map[string]any{"name": "QUOTED"}, "[REDACTED:QUOTED]"}, // JSON-escaped on the wire
	} {
		got, err := testenv.CallTool(t, cs, "get_env", tt.args)
		if err != nil {
			t.Fatalf("get_env %v: %v", tt.args, err)
		}
		if !strings.Contains(got, tt.want) || strings.Contains(got, token) || strings.Contains(got, "ss\\word") {
			t.Errorf("get_env %v = %q, want %s", tt.args, got, tt.want)
		}
	}
	if _, err := testenv.CallTool(t, cs, "stderr", map[string]any{"name": "TOKEN"}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the server's stderr", 5*time.Second, func() bool { return strings.Contains(w.stderr.String(), "envserver: TOKEN is") })
	if s := w.stderr.String(); strings.Contains(s, token) || !strings.Contains(s, "envserver: TOKEN is [REDACTED:TOKEN]") {
		t.Errorf("stderr not redacted:\n%s", s)
	}
	// With --redact=false the value goes through.
	w2 := newWorld(t, "TOKEN="+token+"\n")
	cs2 := w2.connect(w2.command([]string{"TOKEN=$<TOKEN>"}, []string{"--redact=false"}, w2.envserver), "")
	if got, _ := testenv.CallTool(t, cs2, "get_env", map[string]any{"name": "TOKEN"}); got != token {
		t.Errorf("--redact=false: %q", got)
	}
}

// What the client reads on stdout is MCP messages only, launcher logs and
// rotations included; a raw client checks every line.
func TestStdoutHoldsOnlyMessages(t *testing.T) {
	w := newWorld(t, "TOKEN=first-secret-value\n")
	cmd := w.command([]string{"TOKEN=$<TOKEN>"}, []string{"--debounce", "50ms"}, w.envserver)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	lines := bufio.NewScanner(out)
	lines.Buffer(nil, 1<<20)
	send := func(s string) { fmt.Fprintln(in, s) }
	read := func() map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stdout ended: %v", lines.Err())
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Fatalf("not a JSON-RPC message on stdout: %q", lines.Text())
		}
		return m
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := read(); m["id"] != 1.0 || m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for i := 2; i < 6; i++ {
		if i == 4 {
			w.writeEnv("TOKEN=second-secret-value\n")
			testenv.WaitFor(t, "the restart", 10*time.Second, func() bool { return strings.Contains(w.stderr.String(), "restart finished") })
		}
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`, i))
		if m := read(); m["id"] != float64(i) || m["result"] == nil {
			t.Fatalf("call %d: %v", i, m)
		}
	}
}

// Requests from the server to the client (roots here; sampling and
// elicitation go the same way) pass both ways, before and after restarts,
// where the new child's ids could collide with the old one's. (Protocol
// 2026-07-28 has no server-to-client requests: multi round-trip instead.)
func TestServerToClientRequests(t *testing.T) {
	w := newWorld(t, "TOKEN=first-secret-value\n")
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, nil)
	//lint:ignore SA1019 roots are the server-to-client request the protocol up to 2025-11-25 has
	c.AddRoots(&mcp.Root{URI: "file:///workspace/one"})
	cmd := w.command([]string{"TOKEN=$<TOKEN>"}, []string{"--debounce", "50ms"}, w.envserver)
	cs, err := c.Connect(context.Background(), &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for round := range 3 {
		if got, err := testenv.CallTool(t, cs, "roots", nil); err != nil || got != "file:///workspace/one" {
			t.Fatalf("round %d: roots = %q, %v", round, got, err)
		}
		w.writeEnv(fmt.Sprintf("TOKEN=value-%d\n", round))
		testenv.WaitFor(t, "the restart", 10*time.Second, func() bool {
			return strings.Count(w.stderr.String(), "restart finished") > round
		})
	}
}

// A restart that changes the tool list tells the client: in a stateful
// session, and (2026-07-28) on the stateless client's subscriptions/listen
// stream, named by its subscriptionId; the Go SDK client caches the list
// until told.
func TestToolListChanged(t *testing.T) {
	for _, protocol := range []string{"2025-11-25", ""} {
		t.Run(cmp.Or(protocol, "stateless"), func(t *testing.T) {
			w := newWorld(t, "EXTRA=\n")
			changed := make(chan *mcp.ToolListChangedRequest, 10)
			c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, &mcp.ClientOptions{
				ToolListChangedHandler: func(_ context.Context, req *mcp.ToolListChangedRequest) { changed <- req },
			})
			var opts *mcp.ClientSessionOptions
			if protocol != "" {
				opts = &mcp.ClientSessionOptions{ProtocolVersion: protocol}
			}
			cmd := w.command([]string{"ENVSERVER_EXTRA_TOOL=$<EXTRA>"}, []string{"--debounce", "50ms"}, w.envserver)
			cs, err := c.Connect(context.Background(), &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if got := cs.InitializeResult().ProtocolVersion; got != cmp.Or(protocol, "2026-07-28") {
				t.Fatalf("protocol %s", got)
			}
			tools := func() []string {
				res, err := cs.ListTools(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, tl := range res.Tools {
					names = append(names, tl.Name)
				}
				return names
			}
			if slices.Contains(tools(), "extra") {
				t.Fatal("extra tool before the change")
			}
			w.writeEnv("EXTRA=yes\n")
			select {
			case req := <-changed:
				var meta mcp.Meta
				if req.Params != nil {
					meta = req.Params.Meta
				}
				if _, named := meta["io.modelcontextprotocol/subscriptionId"]; named != (protocol == "") {
					t.Errorf("subscriptionId in %v: want one for a stateless client only", meta)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no notifications/tools/list_changed after a restart that added a tool")
			}
			if !slices.Contains(tools(), "extra") {
				t.Error("the new tool is not listed")
			}
		})
	}
}
