package injector_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// everything is the command that starts @modelcontextprotocol/server-everything
// (TypeScript SDK, protocol 2025-11-25) on stdio.
func everything(t *testing.T) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for server-everything: ", err)
	}
	return []string{node, filepath.Join(testenv.NodeModules(t), "@modelcontextprotocol", "server-everything", "dist", "index.js"), "stdio"}
}

// The Go SDK client (which tries server/discover first and falls back to
// initialize) through the launcher to server-everything: tools work, its
// environment dump shows the reference's value redacted, and a rotation
// keeps the session.
func TestServerEverythingGoClient(t *testing.T) {
	const token = "tok-everything-0123456789"
	w := newWorld(t, "TOKEN="+token+"\n")
	cs := w.connect(w.command([]string{"TOKEN=$<TOKEN>"}, []string{"--debounce", "50ms"}, everything(t)...), "")
	if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "hi"}); err != nil || got != "Echo: hi" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	env := getEnv(t, cs)
	if env["TOKEN"] != "[REDACTED:TOKEN]" {
		t.Errorf("get-env TOKEN = %q, want it redacted", env["TOKEN"])
	}
	w.writeEnv("TOKEN=tok-everything-rotated-42\n")
	testenv.WaitFor(t, "the restart", 20*time.Second, func() bool { return strings.Contains(w.stderr.String(), "restart finished") })
	if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "again"}); err != nil || got != "Echo: again" {
		t.Fatalf("echo after the rotation = %q, %v", got, err)
	}
	if env := getEnv(t, cs); env["TOKEN"] != "[REDACTED:TOKEN]" {
		t.Errorf("after the rotation, TOKEN = %q", env["TOKEN"])
	}
}

// getEnv calls server-everything's get-env: its environment as JSON, which
// must still parse after redaction.
func getEnv(t *testing.T, cs *mcp.ClientSession) map[string]string {
	t.Helper()
	got, err := testenv.CallTool(t, cs, "get-env", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(got), &env); err != nil {
		t.Fatalf("get-env is not JSON after redaction: %v\n%s", err, got)
	}
	return env
}

// The TypeScript SDK client, started as Claude Desktop starts servers (a
// minimal environment plus the config's env), through the launcher to
// server-everything; with --redact=false the rotated value is visible.
func TestServerEverythingTypeScriptClient(t *testing.T) {
	w := newWorld(t, "TOKEN=ts-first-value-0123\n")
	node := everything(t)[0]
	args := append([]string{filepath.Join(testenv.ModuleRoot(t), "tools", "npm", "ts-client.mjs"),
		w.cli, "run", "--log-level", "info", "--redact=false", "--debounce", "50ms", "--"}, everything(t)...)
	cmd := exec.Command(node, args...)
	cmd.Env = append(os.Environ(), `MCP_TEST_ENV={"TOKEN":"$<TOKEN>"}`, "MCP_TEST_CWD="+w.dir)
	cmd.Stderr = w.stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	steps := bufio.NewScanner(out)
	steps.Buffer(nil, 1<<20)
	next := func(want string) json.RawMessage {
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
		return s.Value
	}
	if tools := string(next("tools")); !strings.Contains(tools, `"get-env"`) || !strings.Contains(tools, `"echo"`) {
		t.Errorf("tools = %s", tools)
	}
	if echo := string(next("echo")); echo != `"Echo: hello"` {
		t.Errorf("echo = %s", echo)
	}
	envOf := func(raw json.RawMessage) map[string]string {
		var text string
		var env map[string]string
		if err := json.Unmarshal(raw, &text); err != nil || json.Unmarshal([]byte(text), &env) != nil {
			t.Fatalf("get-env: %s", raw)
		}
		return env
	}
	if env := envOf(next("env")); env["TOKEN"] != "ts-first-value-0123" || env["HOME"] == "" {
		t.Errorf("first get-env: TOKEN=%q HOME=%q", env["TOKEN"], env["HOME"])
	}
	next("ready")
	w.writeEnv("TOKEN=ts-rotated-value-4567\n")
	testenv.WaitFor(t, "the restart", 20*time.Second, func() bool { return strings.Contains(w.stderr.String(), "restart finished") })
	in.Write([]byte("next\n"))
	if env := envOf(next("env")); env["TOKEN"] != "ts-rotated-value-4567" {
		t.Errorf("after the rotation, TOKEN=%q", env["TOKEN"])
	}
	next("ready")
	in.Close()
	next("done")
}
