// The tests count serve's children in /proc.

//go:build linux

package sidecar_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// post sends one MCP message to a server of the sidecar, as a client that
// accepts JSON and event streams, and returns the response, body unread.
func (s *serveProc) post(ctx context.Context, server, body string, header ...string) *http.Response {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/"+server+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

// oneShot is what `claude mcp list` and the Inspector CLI do: initialize,
// list the tools, and leave without a DELETE. It returns the statuses.
func (s *serveProc) oneShot(server string) (codes []int, session string) {
	s.t.Helper()
	ctx := context.Background()
	resp := s.post(ctx, server, initialize)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	session = resp.Header.Get("Mcp-Session-Id")
	codes = append(codes, resp.StatusCode)
	if resp.StatusCode != 200 {
		return codes, session
	}
	for _, body := range []string{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`} {
		resp := s.post(ctx, server, body, "Mcp-Session-Id", session, "Mcp-Protocol-Version", "2025-11-25")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	return codes, session
}

// Clients that initialize and never send DELETE do not lock others out: at
// --max-sessions the least recently used idle session is evicted (its id
// then gets 404), a session with a request in progress never is, and only
// when every session is busy is a new one refused.
func TestSessionEviction(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver}}), "", nil,
		"--max-sessions", "4", "--pool-size", "0", "--idle-timeout", "10m")
	var first string
	for i := range 20 {
		codes, session := s.oneShot("env")
		if !slices.Equal(codes, []int{200, 202, 200}) {
			t.Fatalf("one-shot client %d: statuses %v, want 200 202 200", i+1, codes)
		}
		if i == 0 {
			first = session
		}
	}
	testenv.WaitFor(t, "at most 4 live children", 20*time.Second, func() bool {
		return len(childrenOf(t, s.cmd.Process.Pid)) <= 4
	})
	for sample, want := range map[string]float64{
		`mcp_secrets_sessions{server="env"}`:                4,
		`mcp_secrets_sessions_evicted_total{server="env"}`:  16,
		`mcp_secrets_sessions_max{server="env"}`:            4,
		`mcp_secrets_children{kind="session",server="env"}`: 4,
	} {
		if got := s.metric(sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	// The control: the first client's session was evicted, and says so.
	resp := s.post(context.Background(), "env", `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, "Mcp-Session-Id", first)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("the evicted session: %d, want 404", resp.StatusCode)
	}

	// A session whose call is in progress is never evicted, however many
	// clients come after it.
	busy := make([]string, 4)
	calls := make(chan string, 4)
	for i := range busy {
		_, busy[i] = s.oneShot("env")
		go func() {
			resp := s.post(context.Background(), "env", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":3000}}}`,
				"Mcp-Session-Id", busy[i], "Mcp-Protocol-Version", "2025-11-25")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			calls <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
		if i == 0 {
			time.Sleep(200 * time.Millisecond) // the call is in the child
			for range 6 {
				if codes, _ := s.oneShot("env"); codes[0] != 200 {
					t.Errorf("a client beside one busy session: %v", codes)
				}
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	// Every session is busy now: the one answer left is 503.
	resp = s.post(context.Background(), "env", initialize)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("with every session busy: %d (Retry-After %q), want 503", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for range busy {
		if got := <-calls; !strings.HasPrefix(got, "200 ") || !strings.Contains(got, "slept") {
			t.Errorf("a busy session's call: %s", got)
		}
	}
	for i, id := range busy {
		resp := s.post(context.Background(), "env", `{"jsonrpc":"2.0","id":10,"method":"ping"}`, "Mcp-Session-Id", id, "Mcp-Protocol-Version", "2025-11-25")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("busy session %d after its call: %d, want 200 (never evicted)", i, resp.StatusCode)
		}
	}
	// The 21st real client works.
	cs := s.connect("env", "2025-11-25", nil, nil)
	if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"text": "21st"}); err != nil || got != "21st" {
		t.Errorf("a client after the rest: %q, %v", got, err)
	}
	if n := len(childrenOf(t, s.cmd.Process.Pid)); n > 5 { // 4, and one stopping
		t.Errorf("%d children", n)
	}
}

// A request's event stream carries an id per event: a client that loses it
// before the reply resumes it with a GET and Last-Event-ID, and gets the
// reply there (SEP-1699).
func TestStreamResumption(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver}}), "", nil, "--pool-size", "0")
	_, session := s.oneShot("env")
	ctx, cancel := context.WithCancel(context.Background())
	resp := s.post(ctx, "env", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1000}}}`,
		"Mcp-Session-Id", session, "Mcp-Protocol-Version", "2025-11-25")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("a call of a client that accepts a stream: %s", ct)
	}
	// The priming event: an id, no data.
	r := bufio.NewReader(resp.Body)
	line, _ := r.ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "id: ")
	if !ok {
		t.Fatalf("the stream opens with %q, want an id", line)
	}
	cancel() // the connection is lost before the reply
	resp.Body.Close()

	req, _ := http.NewRequest("GET", s.url+"/env/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Last-Event-ID", id)
	got, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body) // the stream ends after the reply
	got.Body.Close()
	if !regexp.MustCompile(`id: \d+-1\nevent: message\ndata: \{"jsonrpc":"2.0","id":7,"result":.*slept`).Match(body) {
		t.Errorf("the resumed stream: %q", body)
	}
	// The control: the reply is delivered once; a second resumption after
	// it has nothing more, and the session goes on.
	req.Header.Set("Last-Event-ID", strings.Replace(id, "-0", "-1", 1))
	again, err := http.DefaultClient.Do(req.Clone(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if resp := s.post(context.Background(), "env", `{"jsonrpc":"2.0","id":8,"method":"ping"}`, "Mcp-Session-Id", session, "Mcp-Protocol-Version", "2025-11-25"); resp.StatusCode != 200 {
		t.Errorf("the session after a resumption: %d", resp.StatusCode)
	}
}

// The official conformance suite scores through serve what the same
// server scores alone: the Go SDK's conformance server, alone over
// Streamable HTTP, and as serve's stdio child.
func TestConformance(t *testing.T) {
	cli, _ := build(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the conformance suite: ", err)
	}
	suite := filepath.Join(testenv.NodeModules(t), "@modelcontextprotocol", "conformance", "dist", "index.js")
	conformance, err := testenv.BuildInto(t.TempDir(), "github.com/modelcontextprotocol/go-sdk/conformance/everything-server", "everything-server")
	if err != nil {
		t.Fatal(err)
	}
	run := func(url string) map[string]string {
		t.Helper()
		out := t.TempDir()
		cmd := exec.Command(node, suite, "server", "--url", url, "-o", out)
		b, _ := cmd.CombinedOutput() // exits 1 when a check fails: the checks say which
		results := map[string]string{}
		files, _ := filepath.Glob(filepath.Join(out, "*", "checks.json"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var checks []struct{ ID, Status string }
			if err := json.Unmarshal(data, &checks); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			scenario := stamp.ReplaceAllString(filepath.Base(filepath.Dir(f)), "")
			for _, c := range checks {
				if c.Status == "SUCCESS" || c.Status == "FAILURE" {
					results[scenario+" "+c.ID] = c.Status
				}
			}
		}
		if len(results) == 0 {
			t.Fatalf("the suite ran nothing: %s", b)
		}
		return results
	}
	port := freePort(t)
	alone := exec.Command(conformance, "-http", "127.0.0.1:"+port, "-stateless=false")
	if err := alone.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		alone.Process.Kill()
		alone.Wait()
	})
	testenv.WaitFor(t, "the server alone to listen", 10*time.Second, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	want := run("http://127.0.0.1:" + port + "/")
	s := startSidecar(t, cli, mcpConfig(map[string]server{"everything": {Command: conformance}}), "", nil)
	got := run(s.url + "/everything/mcp")
	passed := 0
	for check, status := range want {
		if status == "SUCCESS" {
			passed++
		}
		if got[check] != status {
			t.Errorf("%s: %q through serve, %q alone", check, got[check], status)
		}
	}
	for check, status := range got {
		if _, ok := want[check]; !ok {
			t.Errorf("%s: %s through serve only", check, status)
		}
	}
	if want["server-server-sse-multiple-streams server-sse-streams-functional"] != "SUCCESS" {
		t.Error("the server alone answers no concurrent requests as streams: the check that matters here is not made")
	}
	t.Logf("%d of %d checks pass alone; through serve the same", passed, len(want))
}

// stamp is the time the suite appends to a scenario's directory.
var stamp = regexp.MustCompile(`-\d{4}-\d\d-\d\dT[\d-]+Z$`)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// After a rotation that changes the tool list, a stateless client
// (2026-07-28) hears of it on its subscriptions/listen stream, whichever
// pool child its stream and its tools/list went to, and lists the new
// tool (the Go SDK client caches the list until told).
func TestStatelessListChanged(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{
		"env": {Command: envserver, Env: map[string]string{"ENVSERVER_EXTRA_TOOL": "$<EXTRA>"}},
	}), "EXTRA=\n", nil, "--pool-size", "2")
	changed := make(chan struct{}, 10)
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	cs := s.connect("env", "", c, nil)
	if cs.ID() != "" {
		t.Fatalf("a session %q: want the stateless protocol", cs.ID())
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
		t.Fatal("the extra tool before the change")
	}
	s.write(".env", "EXTRA=yes\n")
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatal("no notifications/tools/list_changed after a rotation that added a tool")
	}
	if !slices.Contains(tools(), "extra") {
		t.Error("the new tool is not listed")
	}
}
