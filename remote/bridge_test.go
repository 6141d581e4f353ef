package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

// Tokens long enough to be redacted, distinct from each other.
const (
	tokenA = "tok-A-6f1d2c9e8b7a5d4c"
	tokenB = "tok-B-0a9b8c7d6e5f4a3b"
)

func target(t testing.TB, rawURL, token string) *Target {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return &Target{URL: u, Header: http.Header{"Authorization": {"Bearer " + token}}}
}

// bridged is a bridge running in-process, with what it wrote to the client
// and to its log kept.
type bridged struct {
	in     io.WriteCloser // the client's end of stdin
	out    io.ReadCloser  // the client's end of stdout
	stdout *testenv.Buffer
	logs   *testenv.Buffer
	done   chan error
}

// startBridge runs a bridge to tr whose values token... are hidden.
func startBridge(t *testing.T, tr *Transport, max int, hidden ...string) *bridged {
	t.Helper()
	set := &redact.Set{}
	var secrets []redact.Secret
	for _, h := range hidden {
		secrets = append(secrets, redact.Targets("Authorization", "Bearer "+h, []string{h})...)
	}
	set.Store(redact.New(secrets))
	b := &bridged{stdout: &testenv.Buffer{}, logs: &testenv.Buffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(b.logs, nil))
	tr.log = log
	br := &Bridge{Transport: tr, Redact: set, MaxMessage: max, Log: log}
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	b.in, b.out = stdinW, stdoutR
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		b.done <- br.Run(ctx, stdinR, io.MultiWriter(stdoutW, b.stdout))
		stdoutW.Close()
	}()
	t.Cleanup(func() {
		stdinW.Close()
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			t.Error("the bridge did not end after its stdin closed")
		}
		cancel()
	})
	return b
}

// client connects the Go SDK client to the bridge, at version ("" is the
// SDK's default, 2026-07-28).
func (b *bridged) client(t *testing.T, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "bridge-test", Version: "1"}, opts)
	cs, err := c.Connect(ctx, &mcp.IOTransport{Reader: b.out, Writer: b.in}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v\nbridge log:\n%s", err, b.logs)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// generations are the two protocol generations a remote may speak.
var generations = []struct {
	name      string
	stateless bool   // the remote's mode
	version   string // the client's
}{
	{"2025-11-25 sessions", false, "2025-11-25"},
	{"2026-07-28 stateless", true, ""},
	// The SDK's default client asks server/discover first, then falls
	// back to initialize.
	{"2026-07-28 client, sessions remote", false, ""},
}

// A client on stdio reaches a remote server's tools through the bridge in
// either protocol generation; a rotated token is sent from the next request
// on, with no new session; the token never reaches the client or the log.
func TestBridgeTools(t *testing.T) {
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			remote := testenv.Remote(t, testenv.RemoteOptions{Stateless: g.stateless, Token: tokenA})
			tr := NewTransport(target(t, remote.URL, tokenA), nil, nil, slog.Default())
			b := startBridge(t, tr, 1<<20, tokenA, tokenB)
			cs := b.client(t, g.version, nil)

			if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "hi"}); err != nil || got != "Echo: hi" {
				t.Fatalf("echo: %q, %v", got, err)
			}
			got, err := testenv.CallTool(t, cs, "get-env", nil)
			if err != nil || !strings.Contains(got, testenv.Digest(tokenA)) {
				t.Fatalf("get-env: %q, %v; want the digest of the first token", got, err)
			}
			// Protocol 2026-07-28 mirrors x-mcp-header arguments in headers,
			// which the server checks; a stdio client sends none. The bridge
			// learns them from tools/list, as the SDK's HTTP client does:
			// a client lists the tools before it calls one.
			if _, err := cs.ListTools(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			want := "Region: "
			if g.stateless {
				want += "eu-west-1"
			}
			if got, err := testenv.CallTool(t, cs, "region", map[string]any{"region": "eu-west-1"}); err != nil || got != want {
				t.Fatalf("region: %q, %v; want %q", got, err, want)
			}

			remote.SetToken(tokenB)
			if _, err := testenv.CallTool(t, cs, "get-env", nil); err == nil {
				t.Fatal("control: the remote still takes the old token")
			}
			tr.Set(target(t, remote.URL, tokenB))
			got, err = testenv.CallTool(t, cs, "get-env", nil)
			if err != nil || !strings.Contains(got, testenv.Digest(tokenB)) {
				t.Fatalf("get-env after the rotation: %q, %v; want the digest of the new token", got, err)
			}
			if n := remote.Calls("initialize"); !g.stateless && n != 1 {
				t.Errorf("%d initialize requests at the remote, want 1: the session goes on", n)
			}
			for _, tok := range []string{tokenA, tokenB} {
				if strings.Contains(b.stdout.String(), tok) || strings.Contains(b.logs.String(), tok) {
					t.Errorf("a token reached the client or the log")
				}
			}
		})
	}
}

// Without the bridge the region tool refuses a 2026-07-28 call whose
// header is missing: the control of TestBridgeTools' region check.
func TestRegionHeaderChecked(t *testing.T) {
	remote := testenv.Remote(t, testenv.RemoteOptions{Stateless: true, Token: tokenA})
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"region","arguments":{"region":"eu"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequest("POST", remote.URL, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "region")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "Mcp-Param-Region") {
		t.Fatalf("a call without its Mcp-Param-Region header: %d %s; want it refused", resp.StatusCode, b)
	}
}

// A 401 right after a rotation the watcher has not seen yet is tried once
// more with a fresh resolution; without newer credentials the client gets
// the refusal as an error reply.
func TestBridgeRetriesAfterRotation(t *testing.T) {
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			remote := testenv.Remote(t, testenv.RemoteOptions{Stateless: g.stateless, Token: tokenA})
			var fresh atomic.Pointer[Target]
			fresh.Store(target(t, remote.URL, tokenA))
			var refreshes atomic.Int64
			refresh := func(context.Context) (*Target, error) {
				refreshes.Add(1)
				return fresh.Load(), nil
			}
			tr := NewTransport(target(t, remote.URL, tokenA), refresh, nil, slog.Default())
			b := startBridge(t, tr, 1<<20, tokenA, tokenB)
			cs := b.client(t, g.version, nil)

			// The store and the server rotate; no poll has seen it.
			remote.SetToken(tokenB)
			fresh.Store(target(t, remote.URL, tokenB))
			// The GET stream (sessions) may open after the rotation and be
			// the request refused first: then the call goes out with the
			// fresh token at once. Either way, one fresh resolution.
			got, err := testenv.CallTool(t, cs, "get-env", nil)
			if err != nil || !strings.Contains(got, testenv.Digest(tokenB)) {
				t.Fatalf("get-env: %q, %v; want the new token's digest", got, err)
			}
			if n := remote.Refused("tools/call"); n > 1 || refreshes.Load() != 1 {
				t.Errorf("%d refusals of the call, %d refreshes; want at most one, and one", n, refreshes.Load())
			}

			// Rotated on the server only: nothing newer to try.
			remote.SetToken("tok-C-never-in-the-store")
			_, err = testenv.CallTool(t, cs, "echo", map[string]any{"message": "x"})
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("echo with a refused token: %v; want an error reply naming the 401", err)
			}
		})
	}
}

// What the remote sends back is redacted: a tool that returns the token
// shows a marker through the bridge, the token when asked directly.
func TestBridgeRedacts(t *testing.T) {
	remote := testenv.Remote(t, testenv.RemoteOptions{Token: tokenA})
	tr := NewTransport(target(t, remote.URL, tokenA), nil, nil, slog.Default())
	b := startBridge(t, tr, 1<<20, tokenA)
	cs := b.client(t, "2025-11-25", nil)
	got, err := testenv.CallTool(t, cs, "leak", nil)
	if err != nil || got != "[REDACTED:Authorization]" {
		t.Fatalf("leak through the bridge: %q, %v", got, err)
	}

	// Control: the server does print it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{Transport: NewTransport(target(t, remote.URL, tokenA), nil, nil, slog.Default())}
	direct, err := mcp.NewClient(&mcp.Implementation{Name: "direct", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: remote.URL, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if got, err := testenv.CallTool(t, direct, "leak", nil); err != nil || got != tokenA {
		t.Fatalf("control: leak directly: %q, %v", got, err)
	}
}

// A remote that ended the session (a restart) gets a new one, started with
// the client's own initialize; the client's session goes on.
func TestBridgeRenewsSession(t *testing.T) {
	remote := testenv.Remote(t, testenv.RemoteOptions{Token: tokenA})
	tr := NewTransport(target(t, remote.URL, tokenA), nil, nil, slog.Default())
	b := startBridge(t, tr, 1<<20, tokenA)
	cs := b.client(t, "2025-11-25", nil)
	if _, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "1"}); err != nil {
		t.Fatal(err)
	}
	remote.Restart()
	if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "2"}); err != nil || got != "Echo: 2" {
		t.Fatalf("echo after the remote restarted: %q, %v", got, err)
	}
	if n := remote.Calls("initialize"); n != 2 {
		t.Errorf("%d initialize requests at the remote, want 2 (the client's, and the bridge's for the new session)", n)
	}
	if !strings.Contains(b.logs.String(), "starting a new one") {
		t.Errorf("no log line of the new session:\n%s", b.logs)
	}
}

// The remote's own notifications reach the client: on the GET stream
// (sessions), on subscriptions/listen (2026-07-28).
func TestBridgeNotifications(t *testing.T) {
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			remote := testenv.Remote(t, testenv.RemoteOptions{Stateless: g.stateless, Token: tokenA})
			tr := NewTransport(target(t, remote.URL, tokenA), nil, nil, slog.Default())
			b := startBridge(t, tr, 1<<20, tokenA)
			changed := make(chan struct{}, 10)
			cs := b.client(t, g.version, &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
			if _, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "x"}); err != nil {
				t.Fatal(err)
			}
			stream := "GET"
			if g.stateless {
				stream = "subscriptions/listen"
			}
			testenv.WaitFor(t, "a stream of the remote's own messages", 10*time.Second, func() bool { return remote.Calls(stream) > 0 })
			// The stream may not be open yet at the server: add tools until
			// one is announced.
			for i := 0; ; i++ {
				remote.AddTool(fmt.Sprint("added-", i))
				select {
				case <-changed:
					return
				case <-time.After(500 * time.Millisecond):
				}
				if i == 20 {
					t.Fatalf("no notifications/tools/list_changed reached the client\nbridge log:\n%s", b.logs)
				}
			}
		})
	}
}

// The client's messages and the remote's are bounded: a message too long
// is dropped and the request it was gets an error reply with its id.
func TestBridgeBounds(t *testing.T) {
	long := strings.Repeat("a", 3000)
	remote := http.NewServeMux()
	remote.HandleFunc("POST /json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"text":"`+long+`"}}`)
	})
	remote.HandleFunc("POST /sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"text\":\""+long+"\"}}\n\n")
	})
	srv := httptestServer(t, remote)
	for _, path := range []string{"/json", "/sse"} {
		t.Run(path, func(t *testing.T) {
			tr := NewTransport(target(t, srv+path, tokenA), nil, nil, slog.Default())
			b := startBridge(t, tr, 1000)
			lines := bufio.NewScanner(b.out)
			lines.Buffer(nil, 1<<20)
			// The bridge answers the first message before it reads the
			// second: stdout is an unbuffered pipe, so write from aside.
			go io.WriteString(b.in, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"m":"`+long+`"}}}`+"\n"+
				`{"jsonrpc":"2.0","id":1,"method":"ping"}`+"\n")
			for _, want := range []struct {
				id  int
				msg string
			}{
				{7, "mcp-secrets: the request is longer than 1000 bytes"},
				{1, "mcp-secrets: the remote server's reply is longer than 1000 bytes"},
			} {
				if !lines.Scan() {
					t.Fatalf("no reply: %v", lines.Err())
				}
				var r struct {
					ID    int
					Error struct {
						Code    int
						Message string
					}
				}
				if err := json.Unmarshal(lines.Bytes(), &r); err != nil || r.ID != want.id || r.Error.Code != -32600 || !strings.HasPrefix(r.Error.Message, want.msg) {
					t.Errorf("reply %s\nwant id %d, code -32600, %q", lines.Text(), want.id, want.msg)
				}
			}
		})
	}
}

// The bridge answers what the client sent before it closed stdin (a
// script's printf | mcp-secrets connect), then ends the remote session.
func TestBridgeDrainsAfterEOF(t *testing.T) {
	remote := testenv.Remote(t, testenv.RemoteOptions{Token: tokenA})
	tr := NewTransport(target(t, remote.URL, tokenA), nil, nil, slog.Default())
	b := startBridge(t, tr, 1<<20)
	go func() {
		io.WriteString(b.in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}`+"\n")
	}()
	lines := bufio.NewScanner(b.out)
	if !lines.Scan() || !strings.Contains(lines.Text(), `"protocolVersion":"2025-11-25"`) {
		t.Fatalf("initialize: %q", lines.Text())
	}
	io.WriteString(b.in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"+`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"last"}}}`+"\n")
	b.in.Close()
	var replies []string
	for lines.Scan() {
		replies = append(replies, lines.Text())
	}
	if len(replies) != 1 || !strings.Contains(replies[0], "Echo: last") {
		t.Fatalf("after EOF: %q", replies)
	}
	testenv.WaitFor(t, "the DELETE of the session", 10*time.Second, func() bool { return remote.Calls("DELETE") == 1 })
}

func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
