//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connectBench measures `mcp-secrets connect` as a client meets it: Go SDK
// clients calling a remote server's tool over stdio through connect,
// against the same clients talking Streamable HTTP to the remote directly;
// then the time from a token rotation in the .env to the first request
// that carries the new token.
func connectBench(cfg config) ([]row, error) {
	dir, err := os.MkdirTemp("", "bench-connect")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rs, err := startRemote()
	if err != nil {
		return nil, err
	}
	defer rs.close()
	token := rs.rotate()
	if err := writeEnv(dir, token); err != nil {
		return nil, err
	}

	hc := &http.Client{Transport: &bearer{rs: rs, base: &http.Transport{MaxIdleConnsPerHost: 64}}}
	direct := func() mcp.Transport {
		return &mcp.StreamableClientTransport{Endpoint: rs.url, HTTPClient: hc, MaxRetries: -1}
	}
	through := func() mcp.Transport {
		cmd := exec.Command(cfg.cli, "connect", "--log-level", "warn", "--debounce", "20ms", "--debounce-max", "100ms",
			"--header", "Authorization: Bearer $<TOKEN>", rs.url)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		return &mcp.CommandTransport{Command: cmd}
	}
	var rows []row
	for _, sessions := range []int{1, 16} {
		dLat, dRate, err := load(direct, "2025-11-25", sessions, 3000/sessions)
		if err != nil {
			return rows, fmt.Errorf("directly, %d sessions: %w", sessions, err)
		}
		cLat, cRate, err := load(through, "2025-11-25", sessions, 3000/sessions)
		if err != nil {
			return rows, fmt.Errorf("connect, %d sessions: %w", sessions, err)
		}
		d50, c50 := percentile(dLat, 0.5), percentile(cLat, 0.5)
		rows = append(rows,
			row{fmt.Sprintf("tools/call p50, %d sessions: remote directly", sessions), us(d50), fmt.Sprintf("p99 %s; %.0f calls/s", us(percentile(dLat, 0.99)), dRate)},
			row{fmt.Sprintf("tools/call p50, %d sessions: through connect", sessions), us(c50), fmt.Sprintf("p99 %s; %.0f calls/s (%.0f%% of direct); added %s", us(percentile(cLat, 0.99)), cRate, 100*cRate/dRate, us(c50-d50))},
		)
	}

	took, err := rotationDelay(rs, dir, through, 20)
	if err != nil {
		return rows, fmt.Errorf("rotation: %w", err)
	}
	rows = append(rows, row{"rotation to the first request carrying the new token, p50", ms(median(took)),
		fmt.Sprintf("max %s over %d .env edits; --debounce 20ms, a client calling without pause", ms(slices.Max(took)), len(took))})
	return rows, nil
}

// rotationDelay rotates the token n times in the .env while a client
// calls through connect without pause, and returns each time from the
// edit to the first request the remote saw with the new token.
func rotationDelay(rs *remoteServer, dir string, transport func() mcp.Transport, n int) ([]time.Duration, error) {
	sessions, err := connect(transport, "2025-11-25", 1)
	if err != nil {
		return nil, err
	}
	defer closeAll(sessions)
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := echo(sessions[0]); err != nil && ctx.Err() == nil {
				calls <- err
				return
			}
		}
		calls <- nil
	}()
	defer func() { cancel(); <-calls }()
	var took []time.Duration
	for range n {
		next := rs.rotate() // the old token is still taken until the new one is seen
		start := time.Now()
		if err := writeEnv(dir, next); err != nil {
			return nil, err
		}
		select {
		case seen := <-rs.seen:
			took = append(took, seen.Sub(start))
		case err := <-calls:
			return nil, fmt.Errorf("a call failed: %v", err)
		case <-time.After(10 * time.Second):
			return nil, errors.New("the new token was not sent within 10s")
		}
		time.Sleep(50 * time.Millisecond) // past the debounce: the next edit is a new change
	}
	return took, nil
}

func writeEnv(dir, token string) error {
	tmp := filepath.Join(dir, ".env.tmp")
	if err := os.WriteFile(tmp, []byte("TOKEN="+token+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ".env"))
}

// remoteServer is a remote MCP server as hosted ones are: the Go SDK's
// Streamable HTTP handler behind its bearer-token middleware. During a
// rotation it takes the old token and the new one, and reports when the
// new one first arrives.
type remoteServer struct {
	url  string
	srv  *http.Server
	seen chan time.Time

	mu       sync.Mutex
	gen      int
	old, cur string
}

func startRemote() (*remoteServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rs := &remoteServer{url: "http://" + ln.Addr().String() + "/mcp", seen: make(chan time.Time, 1)}
	server := mcp.NewServer(&mcp.Implementation{Name: "bench-remote", Version: "1"}, nil)
	type args struct {
		Text string `json:"text"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", auth.RequireBearerToken(rs.verify, nil)(h))
	rs.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go rs.srv.Serve(ln)
	return rs, nil
}

// rotate makes a new token current, the old one still taken until the new
// one is seen, and returns it.
func (rs *remoteServer) rotate() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.gen++
	rs.old, rs.cur = rs.cur, fmt.Sprintf("bench-remote-token-%04d-0123456789", rs.gen)
	return rs.cur
}

func (rs *remoteServer) verify(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch {
	case token == rs.cur:
		if rs.old != "" {
			rs.old = ""
			rs.seen <- time.Now()
		}
	case token == rs.old && token != "":
	default:
		return nil, auth.ErrInvalidToken
	}
	return &auth.TokenInfo{UserID: "bench", Expiration: time.Now().Add(time.Hour)}, nil
}

func (rs *remoteServer) token() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.cur
}

func (rs *remoteServer) close() { rs.srv.Close() }

// bearer adds the current token, as a client configured with it would.
type bearer struct {
	rs   *remoteServer
	base http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.rs.token())
	return b.base.RoundTrip(req)
}
