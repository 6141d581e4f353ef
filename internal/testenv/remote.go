package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// RemoteServer is a remote MCP server, as hosted MCP servers are: the Go
// SDK's Streamable HTTP handler behind the SDK's bearer-token middleware,
// on 127.0.0.1, owned by one test. Its tools:
//   - echo {message} answers "Echo: message";
//   - get-env answers what the server saw of the request, as
//     examples/envserver shows a child's variables: {"TOKEN_SHA256": the
//     digest of its bearer token};
//   - leak answers the bearer token itself, as a careless or hostile server
//     could;
//   - region {region} answers the Mcp-Param-Region header its call carried
//     (protocol 2026-07-28 mirrors the argument there, x-mcp-header).
//
// Its token rotates with SetToken; with an OAuthServer it takes that
// server's access tokens instead, and its 401 names its RFC 9728 metadata.
type RemoteServer struct {
	URL string // http://127.0.0.1:PORT/mcp
	// Unauthorized counts the requests refused with 401; Requests every
	// request to the MCP endpoint.
	Unauthorized, Requests atomic.Int64

	stateless bool

	mu      sync.Mutex
	token   string
	seen    []string // digests of the tokens of accepted requests, in order
	server  *mcp.Server
	handler http.Handler
	calls   map[string]int // requests and notifications received, by method
	refused map[string]int // of those, refused with 401
}

// RemoteOptions configure a RemoteServer.
type RemoteOptions struct {
	// Stateless serves protocol 2026-07-28 (no sessions); else sessions,
	// up to 2025-11-25.
	Stateless bool
	// Token is the bearer token accepted until SetToken.
	Token string
	// OAuth, instead of Token: the access tokens this server issued.
	OAuth *OAuthServer
}

// Remote starts a remote MCP server, stopped on cleanup.
func Remote(t testing.TB, o RemoteOptions) *RemoteServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: remote MCP server: %v", err)
	}
	s := &RemoteServer{URL: "http://" + ln.Addr().String() + "/mcp", token: o.Token, stateless: o.Stateless, calls: map[string]int{}, refused: map[string]int{}}
	s.Restart()
	mux := http.NewServeMux()
	opts := &auth.RequireBearerTokenOptions{}
	verify := s.verifyStatic
	if o.OAuth != nil {
		opts.ResourceMetadataURL = "http://" + ln.Addr().String() + "/.well-known/oauth-protected-resource/mcp"
		mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:             s.URL,
			AuthorizationServers: []string{o.OAuth.URL},
		}))
		verify = func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
			expiry, err := o.OAuth.Verify(ctx, token)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
			}
			return &auth.TokenInfo{UserID: o.OAuth.ClientID, Expiration: expiry}, nil
		}
	}
	guarded := auth.RequireBearerToken(func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
		info, err := verify(ctx, token, r)
		if err == nil {
			s.mu.Lock()
			s.seen = append(s.seen, Digest(token))
			s.mu.Unlock()
		}
		return info, err
	}, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		h := s.handler
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	mux.Handle("/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		method := r.Method
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
			var m struct{ Method string }
			if json.Unmarshal(body, &m) == nil {
				method = m.Method
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if method != "" {
			s.mu.Lock()
			s.calls[method]++
			s.mu.Unlock()
		}
		guarded.ServeHTTP(&countingWriter{ResponseWriter: w, s: s, method: method}, r)
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
	})
	return s
}

// Restart replaces the server by a new one, as a deployment does: every
// session ends (a request with an old session id gets 404).
func (s *RemoteServer) Restart() {
	server := mcp.NewServer(&mcp.Implementation{Name: "testenv-remote", Version: "1.0.0"}, nil)
	type echoArgs struct {
		Message string `json:"message"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echoes its message"}, func(_ context.Context, _ *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		return text("Echo: " + a.Message), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "get-env", Description: "what the server saw of the request"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		b, _ := json.Marshal(map[string]string{"TOKEN_SHA256": Digest(bearer(req))})
		return text(string(b)), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "leak", Description: "the request's bearer token"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return text(bearer(req)), nil, nil
	})
	// A tool whose argument protocol 2026-07-28 mirrors in a header
	// (x-mcp-header): the server refuses the call without it.
	server.AddTool(&mcp.Tool{Name: "region", Description: "the region argument, as its header carried it", InputSchema: map[string]any{
		"type":       "object",
		"properties": map[string]any{"region": map[string]any{"type": "string", "x-mcp-header": "Region"}},
	}}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text("Region: " + req.Extra.Header.Get("Mcp-Param-Region")), nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Stateless: s.stateless})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.server, s.handler = server, h
}

// AddTool adds a tool named name (an echo) to the running server: its
// clients get notifications/tools/list_changed.
func (s *RemoteServer) AddTool(name string) {
	s.mu.Lock()
	server := s.server
	s.mu.Unlock()
	mcp.AddTool(server, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return text(name), nil, nil
	})
}

// SetToken makes token the only one accepted from now on.
func (s *RemoteServer) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Calls is how many messages of method the server received (refused ones
// too); the method of an HTTP request other than a POST counts it.
func (s *RemoteServer) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Refused is how many messages of method (as Calls counts them) the
// server refused with 401.
func (s *RemoteServer) Refused(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused[method]
}

// Seen are the digests of the tokens of the requests accepted, in order.
func (s *RemoteServer) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func (s *RemoteServer) verifyStatic(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != s.token {
		return nil, auth.ErrInvalidToken
	}
	// One user whatever the token: a session outlives a rotation, as a
	// real server's sessions outlive a user's token.
	return &auth.TokenInfo{UserID: "testenv", Expiration: time.Now().Add(time.Hour)}, nil
}

// countingWriter counts the 401s.
type countingWriter struct {
	http.ResponseWriter
	s      *RemoteServer
	method string
}

func (w *countingWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		w.s.Unauthorized.Add(1)
		w.s.mu.Lock()
		w.s.refused[w.method]++
		w.s.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func bearer(req *mcp.CallToolRequest) string {
	if req.Extra == nil {
		return ""
	}
	return strings.TrimPrefix(req.Extra.Header.Get("Authorization"), "Bearer ")
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}
