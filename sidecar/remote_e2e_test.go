//go:build linux

package sidecar_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

const (
	remoteTokenA = "url-A-3e4f5a6b7c8d9e0f"
	remoteTokenB = "url-B-0f9e8d7c6b5a4f3e"
)

// A url entry: an agent with no token of its own reaches the remote
// server's tools at /NAME/mcp in either protocol generation; the token
// rotates in the .env and on the server and the agent's session goes on;
// no token reaches the agent. The control: the same agent straight at the
// remote is refused.
func TestServeRemote(t *testing.T) {
	cli, _ := build(t)
	for _, g := range []struct {
		name      string
		stateless bool
		version   string
	}{
		{"2025-11-25 sessions", false, "2025-11-25"},
		{"2026-07-28 stateless", true, ""},
	} {
		t.Run(g.name, func(t *testing.T) {
			remote := testenv.Remote(t, testenv.RemoteOptions{Stateless: g.stateless, Token: remoteTokenA})
			config := `{"mcpServers": {"gh": {"type": "http", "url": "` + remote.URL + `", "headers": {"Authorization": "Bearer $<dotenv:GH_TOKEN>"}}}}`
			s := startSidecar(t, cli, config, "GH_TOKEN="+remoteTokenA+"\n", nil)
			rec := &recorder{}
			hc := &http.Client{Transport: rec}
			cs := s.connect("gh", g.version, nil, hc)
			if _, err := cs.ListTools(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "hi"}); err != nil || got != "Echo: hi" {
				t.Fatalf("echo: %q, %v", got, err)
			}
			if got, err := testenv.CallTool(t, cs, "get-env", nil); err != nil || !strings.Contains(got, testenv.Digest(remoteTokenA)) {
				t.Fatalf("get-env: %q, %v; want the first token's digest", got, err)
			}
			if code, body := s.get("/readyz"); code != 200 {
				t.Errorf("/readyz: %d %s", code, body)
			}
			if n := s.metric(`mcp_secrets_http_requests_total{code="200",method="POST",server="gh"}`); n == 0 {
				t.Error("no requests to the url entry counted in /metrics")
			}

			s.write(".env", "GH_TOKEN="+remoteTokenB+"\n")
			testenv.WaitFor(t, "the new value", 10*time.Second, func() bool { return strings.Contains(s.stderr.String(), "new values") })
			remote.SetToken(remoteTokenB)
			if got, err := testenv.CallTool(t, cs, "get-env", nil); err != nil || !strings.Contains(got, testenv.Digest(remoteTokenB)) {
				t.Fatalf("get-env after the rotation: %q, %v; want the new token's digest", got, err)
			}
			if n := remote.Calls("initialize"); n > 1 || !g.stateless && n != 1 {
				t.Errorf("%d initialize requests at the remote: the session goes on", n)
			}
			if got, err := testenv.CallTool(t, cs, "leak", nil); err != nil || strings.Contains(got, remoteTokenB) {
				t.Errorf("leak through serve: %q, %v; want it redacted", got, err)
			}
			for _, tok := range []string{remoteTokenA, remoteTokenB} {
				if strings.Contains(rec.String(), tok) || strings.Contains(s.stderr.String(), tok) {
					t.Error("a token reached the agent or serve's log")
				}
			}

			// Control: the agent has no token of its own.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, remote.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("control: the remote straight, without a token: %s; want 401", resp.Status)
			}
		})
	}
}
