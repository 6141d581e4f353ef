// The tests find serve's children in /proc and kill them with kill(2).

//go:build linux

package sidecar_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

type server struct {
	Command string            `json:"command"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

func mcpConfig(servers map[string]server) string {
	b, _ := json.Marshal(map[string]any{"mcpServers": servers})
	return string(b)
}

// Go SDK clients over Streamable HTTP, through serve, to the example Go
// server and to server-everything, with the SDK's default protocol
// (2026-07-28: stateless for the Go server, a fallback to a stateful
// session for server-everything) and with 2025-11-25: tools listed and
// called by several sessions at once, each answered by its own child,
// values redacted, in no HTTP response.
func TestClients(t *testing.T) {
	cli, envserver := build(t)
	const token = "tok-0123456789abcdef"
	ev := everything(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{
		"env":        {Command: envserver, Env: map[string]string{"TOKEN": "$<TOKEN>"}},
		"everything": {Command: ev[0], Args: ev[1:], Env: map[string]string{"TOKEN": "$<TOKEN>"}},
	}), "TOKEN="+token+"\n", nil)
	rec := &recorder{}
	hc := &http.Client{Transport: rec}

	type client struct {
		server, protocol, root string
		cs                     *mcp.ClientSession
	}
	var clients []client
	for _, srv := range []string{"env", "everything"} {
		for _, protocol := range []string{"", "2025-11-25"} {
			for i := range 3 {
				root := fmt.Sprintf("file:///%s/%s/%d", srv, cmpOr(protocol, "default"), i)
				c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, nil)
				//lint:ignore SA1019 roots are the server-to-client request the protocol up to 2025-11-25 has
				c.AddRoots(&mcp.Root{URI: root})
				clients = append(clients, client{srv, protocol, root, s.connect(srv, protocol, c, hc)})
			}
		}
	}
	var wg sync.WaitGroup
	for n, c := range clients {
		wg.Go(func() {
			name := fmt.Sprintf("%s %q #%d", c.server, c.protocol, n)
			stateless := c.server == "env" && c.protocol == ""
			if got := c.cs.InitializeResult().ProtocolVersion; stateless != (got == "2026-07-28") || stateless != (c.cs.ID() == "") {
				t.Errorf("%s: protocol %s, session %q", name, got, c.cs.ID())
			}
			tools, err := c.cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Errorf("%s: tools/list: %v", name, err)
				return
			}
			want := map[string][]string{"env": {"echo", "get_env", "roots"}, "everything": {"echo", "get-env"}}[c.server]
			var names []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			for _, w := range want {
				if !slices.Contains(names, w) {
					t.Errorf("%s: no tool %s in %v", name, w, names)
				}
			}
			for i := range 20 {
				text := fmt.Sprintf("%s call %d", name, i)
				args, wantText := map[string]any{"text": text}, text
				if c.server == "everything" {
					args, wantText = map[string]any{"message": text}, "Echo: "+text
				}
				if got, err := testenv.CallTool(t, c.cs, "echo", args); err != nil || got != wantText {
					t.Errorf("%s: echo = %q, %v; want %q", name, got, err, wantText)
				}
			}
			switch {
			case c.server == "everything":
				got, err := testenv.CallTool(t, c.cs, "get-env", map[string]any{})
				var env map[string]string
				if err != nil || json.Unmarshal([]byte(got), &env) != nil || env["TOKEN"] != "[REDACTED:TOKEN]" {
					t.Errorf("%s: get-env TOKEN = %q (%v)", name, env["TOKEN"], err)
				}
			default:
				if got, err := testenv.CallTool(t, c.cs, "get_env", map[string]any{"name": "TOKEN"}); err != nil || got != "[REDACTED:TOKEN]" {
					t.Errorf("%s: get_env = %q, %v", name, got, err)
				}
				if got, err := testenv.CallTool(t, c.cs, "get_env", map[string]any{"name": "TOKEN", "encoding": "sha256"}); err != nil || got != testenv.Digest(token) {
					t.Errorf("%s: get_env sha256 = %q, %v", name, got, err)
				}
			}
			// The server asks its own client for roots: a session's child
			// never talks to another session's client.
			if c.server == "env" && !stateless {
				if got, err := testenv.CallTool(t, c.cs, "roots", nil); err != nil || got != c.root {
					t.Errorf("%s: roots = %q, %v; want %q", name, got, err, c.root)
				}
			}
		})
	}
	wg.Wait()
	if got := s.metric(`mcp_secrets_sessions_opened_total{server="env"}`); got != 3 {
		t.Errorf("env: %v sessions opened, want 3 (the stateless clients use the pool)", got)
	}
	if got := s.metric(`mcp_secrets_sessions_opened_total{server="everything"}`); got != 6 {
		t.Errorf("everything: %v sessions opened, want 6 (its discover fails: every client falls back to a session)", got)
	}
	for where, text := range map[string]string{"an HTTP response": rec.String(), "serve's stderr": s.stderr.String()} {
		if strings.Contains(text, token) {
			t.Errorf("the secret value is in %s", where)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Sixteen stateful sessions and four stateless clients call a tool in a
// loop while the secret rotates ten times: no call fails, and once a client
// has seen a value it never sees an older one.
func TestRotationUnderLoad(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{
		"env": {Command: envserver, Env: map[string]string{"TOKEN": "$<TOKEN>"}},
	}), "TOKEN=value-0\n", nil, "--pool-size", "2")
	const rotations = 10
	version := map[string]int{}
	for i := range rotations + 1 {
		version[testenv.Digest(fmt.Sprintf("value-%d", i))] = i
	}
	type client struct {
		cs   *mcp.ClientSession
		seen atomic.Int64
	}
	var clients []*client
	for i := range 20 {
		protocol := "2025-11-25"
		if i >= 16 {
			protocol = ""
		}
		clients = append(clients, &client{cs: s.connect("env", protocol, nil, nil)})
	}
	var calls, failed, regressed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := testenv.CallTool(t, c.cs, "get_env", map[string]any{"name": "TOKEN", "encoding": "sha256"})
				calls.Add(1)
				v, known := version[got]
				switch {
				case err != nil || !known:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%q, %v", got, err))
				case int64(v) < c.seen.Load():
					regressed.Add(1)
				default:
					c.seen.Store(int64(v))
				}
			}
		})
	}
	start := time.Now()
	for i := 1; i <= rotations; i++ {
		s.write(".env", fmt.Sprintf("TOKEN=value-%d\n", i))
		testenv.WaitFor(t, fmt.Sprintf("every client to see rotation %d", i), 60*time.Second, func() bool {
			for _, c := range clients {
				if c.seen.Load() < int64(i) {
					return false
				}
			}
			return true
		})
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d calls failed during %d rotations; first: %v", failed.Load(), calls.Load(), rotations, firstErr.Load())
	}
	if regressed.Load() != 0 {
		t.Errorf("%d calls saw an older value after a newer one", regressed.Load())
	}
	if got := s.metric(`mcp_secrets_rotations_total{server="env"}`); got != rotations {
		t.Errorf("%v rotations counted, want %d", got, rotations)
	}
	if got := s.metric(`mcp_secrets_restarts_total{reason="rotation",server="env"}`); got < 18*rotations {
		t.Errorf("%v restarts counted, want at least %d (16 sessions and 2 pool children, %d times)", got, 18*rotations, rotations)
	}
	t.Logf("%d calls by 20 clients during %d rotations in %v", calls.Load(), rotations, took.Round(time.Millisecond))
}

// The HTTP rules: token, Origin and Host, body size, sessions, methods,
// protocol headers.
func TestHTTPStatus(t *testing.T) {
	cli, envserver := build(t)
	const auth = "bearer-token-0123456789"
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver}}),
		"AUTH="+auth+"\n", nil, "--auth-token", "$<AUTH>", "--max-body", "4096")
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	const list = `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	const call = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	stateless := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	do := func(method, path, body string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+auth)
		for k, v := range header {
			if k == "Host" {
				req.Host = v
			} else if v == "" {
				req.Header.Del(k)
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := do("POST", "/env/mcp", initialize, nil)
	session := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || session == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, session)
	}
	inSession := map[string]string{"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}
	for _, tt := range []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		want                     string // in the body
	}{
		{"no token", "POST", "/env/mcp", initialize, map[string]string{"Authorization": ""}, 401, ""},
		{"wrong token", "POST", "/env/mcp", initialize, map[string]string{"Authorization": "Bearer nope"}, 401, ""},
		{"foreign origin", "POST", "/env/mcp", list, with(inSession, "Origin", "https://evil.example"), 403, ""},
		{"localhost origin", "POST", "/env/mcp", list, with(inSession, "Origin", "http://localhost:3000"), 200, `"tools"`},
		{"rebinding host", "POST", "/env/mcp", list, with(inSession, "Host", "evil.example:8000"), 403, ""},
		{"oversized body", "POST", "/env/mcp", `{"jsonrpc":"2.0","id":4,"method":"ping","params":{"pad":"` + strings.Repeat("x", 5000) + `"}}`, inSession, 413, ""},
		{"unknown session", "POST", "/env/mcp", list, with(inSession, "Mcp-Session-Id", "NOPE"), 404, ""},
		{"no session", "POST", "/env/mcp", list, nil, 400, "Mcp-Session-Id"},
		{"GET without session", "GET", "/env/mcp", "", nil, 400, ""},
		{"DELETE of an unknown session", "DELETE", "/env/mcp", "", map[string]string{"Mcp-Session-Id": "NOPE"}, 404, ""},
		{"PUT", "PUT", "/env/mcp", list, inSession, 405, ""},
		{"unknown protocol version", "POST", "/env/mcp", list, with(inSession, "Mcp-Protocol-Version", "1999-01-01"), 400, ""},
		{"not JSON", "POST", "/env/mcp", `{"jsonrpc":`, inSession, 400, "-32700"},
		{"a batch", "POST", "/env/mcp", "[" + list + "]", inSession, 400, "batch"},
		{"text/plain", "POST", "/env/mcp", list, with(inSession, "Content-Type", "text/plain"), 415, ""},
		{"stateless call", "POST", "/env/mcp", call, stateless, 200, `"hi"`},
		{"stateless, Mcp-Name differs", "POST", "/env/mcp", call, with(stateless, "Mcp-Name", "get_env"), 400, "-32020"},
		{"stateless, no Mcp-Method", "POST", "/env/mcp", call, with(stateless, "Mcp-Method", ""), 400, "-32020"},
		{"stateless, version differs", "POST", "/env/mcp", call, with(stateless, "Mcp-Protocol-Version", "2025-11-25"), 400, "-32020"},
		{"unknown server", "POST", "/nope/mcp", list, inSession, 404, ""},
		{"healthz needs no token", "GET", "/healthz", "", map[string]string{"Authorization": ""}, 200, "ok"},
		{"metrics need no token", "GET", "/metrics", "", map[string]string{"Authorization": ""}, 200, "mcp_secrets_"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(tt.method, tt.path, tt.body, tt.header)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%d %q, want %d and %q", resp.StatusCode, body, tt.status, tt.want)
			}
			if strings.Contains(body, auth) {
				t.Error("the token is in the response")
			}
		})
	}
	// DELETE ends the session: its id is then unknown.
	if resp, _ := do("DELETE", "/env/mcp", "", inSession); resp.StatusCode != 204 {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
	if resp, _ := do("POST", "/env/mcp", list, inSession); resp.StatusCode != 404 {
		t.Errorf("after DELETE: %d, want 404", resp.StatusCode)
	}
	if strings.Contains(s.stderr.String(), auth) {
		t.Error("the token is in serve's stderr")
	}
}

// A session without requests for the idle timeout ends: its id is then
// unknown, and its child gone (sessions_test.go: the cap).
func TestSessionIdle(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver}}), "", nil,
		"--max-sessions", "2", "--idle-timeout", "1s", "--pool-size", "0")
	initialize := func() (int, string) {
		req, _ := http.NewRequest("POST", s.url+"/env/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
	}
	_, first := initialize()
	if code, _ := initialize(); code != 200 {
		t.Fatalf("second session: %d", code)
	}
	if n := len(childrenOf(t, s.cmd.Process.Pid)); n != 2 {
		t.Errorf("%d children, want the two sessions'", n)
	}
	testenv.WaitFor(t, "the idle sessions to end", 10*time.Second, func() bool {
		return s.metric(`mcp_secrets_sessions{server="env"}`) == 0 && len(childrenOf(t, s.cmd.Process.Pid)) == 0
	})
	req, _ := http.NewRequest("DELETE", s.url+"/env/mcp", nil)
	req.Header.Set("Mcp-Session-Id", first)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("the idle session's id: %d, want 404", resp.StatusCode)
	}
	if code, _ := initialize(); code != 200 {
		t.Errorf("a session after the idle ones ended: %d", code)
	}
}

// /metrics counts what happened, and /readyz fails once a reference no
// longer resolves; neither shows a value.
func TestMetricsAndReadiness(t *testing.T) {
	cli, envserver := build(t)
	const token = "metrics-secret-0123456789"
	s := startSidecar(t, cli, mcpConfig(map[string]server{
		"env": {Command: envserver, Env: map[string]string{"TOKEN": "$<TOKEN>"}},
	}), "TOKEN="+token+"\n", nil)
	if code, body := s.get("/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	a := s.connect("env", "2025-11-25", nil, nil)
	b := s.connect("env", "2025-11-25", nil, nil)
	c := s.connect("env", "", nil, nil)
	for _, cs := range []*mcp.ClientSession{a, b, c} {
		if got, err := testenv.CallTool(t, cs, "get_env", map[string]any{"name": "TOKEN"}); err != nil || got != "[REDACTED:TOKEN]" {
			t.Fatalf("get_env: %q, %v", got, err)
		}
	}
	// The watcher checks the files once when it starts watching them: a
	// change written before that check would be found by it, not after it.
	testenv.WaitFor(t, "the files to be watched", 10*time.Second, func() bool {
		return s.metric(`mcp_secrets_resolutions_total{result="ok",server="env"}`) >= 2
	})
	s.write(".env", "TOKEN="+token+"-rotated\n")
	testenv.WaitFor(t, "the rotation to reach every child", 20*time.Second, func() bool {
		return s.metric(`mcp_secrets_restarts_total{reason="rotation",server="env"}`) >= 4
	})
	b.Close()
	for sample, want := range map[string]float64{
		`mcp_secrets_sessions_opened_total{server="env"}`:                        2,
		`mcp_secrets_sessions{server="env"}`:                                     1,
		`mcp_secrets_children{kind="pool",server="env"}`:                         2,
		`mcp_secrets_children{kind="session",server="env"}`:                      1,
		`mcp_secrets_rotations_total{server="env"}`:                              1,
		`mcp_secrets_restarts_total{reason="rotation",server="env"}`:             4, // 2 sessions, 2 pool children
		`mcp_secrets_resolutions_total{result="ok",server="env"}`:                3, // at start, once its files are watched, after the change
		`mcp_secrets_redactions_total{server="env"}`:                             3,
		`mcp_secrets_provider_fetches_total{provider="dotenv",result="ok"}`:      -1, // any
		`mcp_secrets_provider_fetch_seconds_count{provider="dotenv"}`:            -1,
		`mcp_secrets_http_requests_total{code="200",method="POST",server="env"}`: -1,
	} {
		testenv.WaitFor(t, sample, 5*time.Second, func() bool {
			got := s.metric(sample)
			return got == want || want < 0 && got > 0
		})
	}
	_, metrics := s.get("/metrics")
	if strings.Contains(metrics, token) || strings.Contains(metrics, "TOKEN") {
		t.Error("/metrics shows a value or a variable")
	}
	s.write(".env", "OTHER=x\n")
	testenv.WaitFor(t, "/readyz to fail", 2*readyEvery, func() bool {
		code, _ := s.get("/readyz")
		return code == 503
	})
	if _, body := s.get("/readyz"); !strings.Contains(body, "mcpServers.env: TOKEN: $<TOKEN>: dotenv: not found") || strings.Contains(body, token) {
		t.Errorf("/readyz: %s", body)
	}
	if code, _ := s.get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if got, err := testenv.CallTool(t, a, "get_env", map[string]any{"name": "TOKEN", "encoding": "sha256"}); err != nil || got != testenv.Digest(token+"-rotated") {
		t.Errorf("a provider failure must leave the children their values: %q, %v", got, err)
	}
	if strings.Contains(s.stderr.String(), token) {
		t.Error("a value is in serve's stderr")
	}
}

// A child's environment: the sidecar's, without its credentials and its
// own references, with the server's env block over it, references resolved.
func TestChildEnvironment(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{
		"env": {Command: envserver, Env: map[string]string{"TOKEN": "$<TOKEN>", "LITERAL": "literal-value", "VAULT_TOKEN": "for-the-child", "SHARED": "from-the-block"}},
	}), "TOKEN=env-secret-0123456789\n", []string{
		"SIDECAR_SETTING=on", "SHARED=from-the-sidecar", "AWS_SECRET_ACCESS_KEY=sidecar-credential", "OWN_REF=$<TOKEN>", "MCP_SECRETS_AUTH_TOKEN=auth-token-0123456789",
	})
	cs := s.connect("env", "", nil, &http.Client{Transport: &recorder{token: "auth-token-0123456789"}})
	for name, want := range map[string]string{
		"TOKEN":                  "[REDACTED:TOKEN]",
		"LITERAL":                "literal-value",
		"VAULT_TOKEN":            "for-the-child", // the block sets it for the child: not the sidecar's credential
		"SHARED":                 "from-the-block",
		"SIDECAR_SETTING":        "on",
		"AWS_SECRET_ACCESS_KEY":  "",
		"OWN_REF":                "",
		"MCP_SECRETS_AUTH_TOKEN": "",
	} {
		if got, err := testenv.CallTool(t, cs, "get_env", map[string]any{"name": name}); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
}

// With --admin-listen, /healthz, /readyz and /metrics move to their own
// address, and the MCP endpoints stay alone on theirs.
func TestAdminListener(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver}}), "", nil, "--admin-listen", "127.0.0.1:0")
	m := regexp.MustCompile(`msg="health and metrics" addr=(\S+)`).FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatal("no admin address logged")
	}
	admin := "http://" + m[1]
	for _, tt := range []struct {
		url  string
		code int
	}{
		{admin + "/healthz", 200},
		{admin + "/readyz", 200},
		{admin + "/metrics", 200},
		{admin + "/env/mcp", 404},
		{s.url + "/healthz", 404},
		{s.url + "/metrics", 404},
		{s.url + "/env/mcp", 406}, // a GET that accepts no event stream: the endpoint is there
	} {
		resp, err := http.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("GET %s: %d, want %d", tt.url, resp.StatusCode, tt.code)
		}
	}
}

// Notifications find their request's stream: progress on the POST of the
// call it reports on (a stateful session), and a stateless
// subscriptions/listen's on its own.
func TestNotifications(t *testing.T) {
	cli, envserver := build(t)
	ev := everything(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{
		"env":        {Command: envserver, Env: map[string]string{"ENVSERVER_EXTRA_TOOL": "$<EXTRA>"}},
		"everything": {Command: ev[0], Args: ev[1:]},
	}), "EXTRA=\n", nil, "--pool-size", "1")

	var mu sync.Mutex
	var progress []float64
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			if req.Params.ProgressToken == "op-1" {
				progress = append(progress, req.Params.Progress)
			}
		},
	})
	cs := s.connect("everything", "2025-11-25", c, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{
		Name:      "trigger-long-running-operation",
		Arguments: map[string]any{"duration": 0.3, "steps": 3},
		Meta:      mcp.Meta{"progressToken": "op-1"},
	})
	if err != nil || res.IsError {
		t.Fatalf("long running operation: %v %+v", err, res)
	}
	// The client's handlers may run after the call returns.
	testenv.WaitFor(t, "three progress notifications", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(progress) >= 3
	})
	mu.Lock()
	if !slices.Equal(progress, []float64{1, 2, 3}) {
		t.Errorf("progress %v, want 1, 2, 3", progress)
	}
	mu.Unlock()

	// A stateless subscriptions/listen is a stream the pool child
	// acknowledges under the client's id, and that a rotation moves to the
	// new child, which acknowledges it again.
	req, _ := http.NewRequest("POST", s.url+"/env/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":"listen-1","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`))
	for k, v := range map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
		"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- data
			}
		}
		close(events)
	}()
	const ack = `{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"listen-1"},"notifications":{"toolsListChanged":true}}}`
	next := func(what string) {
		t.Helper()
		select {
		case e := <-events:
			if e != ack {
				t.Fatalf("%s: %s, want %s", what, e, ack)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no event", what)
		}
	}
	next("the acknowledgement")
	stateless := s.connect("env", "", nil, nil)
	s.write(".env", "EXTRA=yes\n")
	next("the new child's acknowledgement after the rotation")
	res2, err := stateless.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res2.Tools, func(tl *mcp.Tool) bool { return tl.Name == "extra" }) {
		t.Error("after the rotation, the new tool is not listed")
	}
}

// readyEvery is serve's cache of the readiness check.
const readyEvery = 10 * time.Second

// A pool child that dies is started again, with the values in memory: no
// provider is asked again.
func TestPoolChildCrash(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{
		"env": {Command: envserver, Env: map[string]string{"TOKEN": "$<TOKEN>"}},
	}), "TOKEN=crash-value-0123\n", nil, "--pool-size", "1")
	cs := s.connect("env", "", nil, nil)
	if _, err := testenv.CallTool(t, cs, "echo", map[string]any{"text": "before"}); err != nil {
		t.Fatal(err)
	}
	// The resolution at start, and the one that checks the files once they
	// are watched: no fetch after these may come from the crash.
	testenv.WaitFor(t, "the check of the watched files", 10*time.Second, func() bool {
		return s.metric(`mcp_secrets_resolutions_total{result="ok",server="env"}`) == 2
	})
	fetches := s.metric(`mcp_secrets_provider_fetches_total{provider="dotenv",result="ok"}`)
	pids := childrenOf(t, s.cmd.Process.Pid)
	if len(pids) != 1 {
		t.Fatalf("%d children, want the one pool child", len(pids))
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	testenv.WaitFor(t, "the pool child to come back", 10*time.Second, func() bool {
		got, err := testenv.CallTool(t, cs, "echo", map[string]any{"text": "after"})
		return err == nil && got == "after"
	})
	if got := s.metric(`mcp_secrets_restarts_total{reason="crash",server="env"}`); got != 1 {
		t.Errorf("%v crash restarts", got)
	}
	if got := s.metric(`mcp_secrets_provider_fetches_total{provider="dotenv",result="ok"}`); got != fetches {
		t.Errorf("the restart fetched again: %v fetches, %v before", got, fetches)
	}
	if got, err := testenv.CallTool(t, cs, "get_env", map[string]any{"name": "TOKEN", "encoding": "sha256"}); err != nil || got != testenv.Digest("crash-value-0123") {
		t.Errorf("after the crash: %q, %v", got, err)
	}
}

// SIGTERM: a request in flight is answered, then every child stops and
// serve exits 0.
func TestGracefulShutdown(t *testing.T) {
	cli, envserver := build(t)
	s := startSidecar(t, cli, mcpConfig(map[string]server{"env": {Command: envserver}}), "", nil, "--shutdown-timeout", "10s")
	post := func(body, session string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", s.url+"/env/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		return http.DefaultClient.Do(req)
	}
	resp, err := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	session := resp.Header.Get("Mcp-Session-Id")
	if resp, err = post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, session); err != nil || resp.StatusCode != 202 {
		t.Fatalf("initialized: %v %v", resp, err)
	}
	children := childrenOf(t, s.cmd.Process.Pid)
	if len(children) != 3 { // the session's and two pool children
		t.Fatalf("%d children, want 3", len(children))
	}
	type result struct {
		body string
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1500}}}`, session)
		if err != nil {
			answered <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- result{body: string(b)}
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if r := <-answered; r.err != nil || !strings.Contains(r.body, "slept") {
		t.Errorf("the call in flight: %q, %v", r.body, r.err)
	}
	<-s.done
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	for _, pid := range children {
		if alive(pid) {
			t.Errorf("child %d outlived serve", pid)
		}
	}
	t.Logf("shutdown took %v", time.Since(start).Round(time.Millisecond))
	if _, err := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, ""); err == nil {
		t.Error("serve still accepts connections")
	}
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" && !isWatchdog(n) {
			out = append(out, n)
		}
	}
	return out
}

// isWatchdog reports whether pid is serve's watchdog, a child that is not a
// server's.
func isWatchdog(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return bytes.Contains(b, []byte("internal-watchdog"))
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}
