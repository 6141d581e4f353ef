// serve is started with a parent-death signal and stopped with SIGTERM.

//go:build linux

package sidecar_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// serveProc is `mcp-secrets serve` started by a test, in a directory of its
// own with a .env.
type serveProc struct {
	t      *testing.T
	dir    string
	url    string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	stderr *testenv.Buffer
	done   chan struct{}
}

// bins are the CLI and the example Go server, built once for every test.
var bins struct {
	once           sync.Once
	dir            string
	cli, envserver string
	err            error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// build builds the CLI and the example Go server.
func build(t testing.TB) (cli, envserver string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts real MCP servers")
	}
	bins.once.Do(func() {
		if bins.dir, bins.err = os.MkdirTemp("", "sidecar-test"); bins.err != nil {
			return
		}
		// Race-built under go test -race, as the package's tests are.
		if bins.cli, bins.err = testenv.BuildInto(bins.dir, "github.com/mcp-secrets/mcp-secrets/cmd/mcp-secrets", "mcp-secrets"); bins.err != nil {
			return
		}
		bins.envserver, bins.err = testenv.BuildInto(bins.dir, "github.com/mcp-secrets/mcp-secrets/examples/envserver", "envserver")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.cli, bins.envserver
}

// everything is the command of @modelcontextprotocol/server-everything
// (TypeScript SDK, protocol 2025-11-25 only).
func everything(t *testing.T) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for server-everything: ", err)
	}
	return []string{node, filepath.Join(testenv.NodeModules(t), "@modelcontextprotocol", "server-everything", "dist", "index.js"), "stdio"}
}

// startSidecar writes config and dotenv to a new directory and serves
// config from it on a free port, with env added to serve's environment.
func startSidecar(t *testing.T, cli, config, dotenv string, env []string, flags ...string) *serveProc {
	t.Helper()
	s := &serveProc{t: t, dir: t.TempDir(), stderr: &testenv.Buffer{}, done: make(chan struct{})}
	s.write("mcp.json", config)
	s.write(".env", dotenv)
	args := append([]string{"serve", "--config", "mcp.json", "--listen", "127.0.0.1:0", "--log-level", "debug",
		"--debounce", "20ms", "--debounce-max", "100ms", "--stop-timeout", "2s"}, flags...)
	s.cmd = exec.Command(cli, args...)
	s.cmd.Dir = s.dir
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir}, env...)
	s.cmd.Stderr = s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop()
		if strings.Contains(s.stderr.String(), "DATA RACE") { // built with -race
			t.Error("serve has a data race")
		}
		if t.Failed() {
			t.Logf("serve's stderr:\n%s", s.stderr.String())
		}
	})
	addr := regexp.MustCompile(`msg=listening addr=(\S+)`)
	testenv.WaitFor(t, "serve to listen", 30*time.Second, func() bool {
		select {
		case <-s.done:
			t.Fatalf("serve exited: %s", s.stderr.String())
		default:
		}
		return addr.MatchString(s.stderr.String())
	})
	s.url = "http://" + addr.FindStringSubmatch(s.stderr.String())[1]
	return s
}

// stop sends SIGTERM and waits for serve to end.
func (s *serveProc) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		s.t.Error("serve did not end within 30s of SIGTERM")
	}
}

func (s *serveProc) write(name, content string) {
	s.t.Helper()
	tmp := filepath.Join(s.dir, name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		s.t.Fatal(err)
	}
}

// connect opens a Go SDK client session to a server of the sidecar:
// protocol "" is the SDK's default (2026-07-28, stateless, falling back
// to initialize), "2025-11-25" a stateful session.
func (s *serveProc) connect(server, protocol string, c *mcp.Client, hc *http.Client) *mcp.ClientSession {
	s.t.Helper()
	if c == nil {
		c = mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, nil)
	}
	var opts *mcp.ClientSessionOptions
	if protocol != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: protocol}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.url + "/" + server + "/mcp", HTTPClient: hc, MaxRetries: -1}, opts)
	if err != nil {
		s.t.Fatalf("connect to %s (%q): %v", server, protocol, err)
	}
	s.t.Cleanup(func() { cs.Close() })
	return cs
}

// get fetches a path of the sidecar.
func (s *serveProc) get(path string) (int, string) {
	s.t.Helper()
	resp, err := http.Get(s.url + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric is the value of a sample of /metrics, such as
// `mcp_secrets_sessions_opened_total{server="env"}`; 0 if absent.
func (s *serveProc) metric(sample string) float64 {
	s.t.Helper()
	_, body := s.get("/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// recorder is an http.RoundTripper that keeps every response body, to
// check that no secret value ever reaches a client.
type recorder struct {
	mu     sync.Mutex
	bodies bytes.Buffer
	token  string // sent as the bearer token, if set
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &teeBody{resp.Body, r}
	return resp, nil
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies.String()
}

type teeBody struct {
	io.ReadCloser
	r *recorder
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.r.mu.Lock()
	b.r.bodies.Write(p[:n])
	b.r.mu.Unlock()
	return n, err
}
