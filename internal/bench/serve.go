//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serveBench measures `mcp-secrets serve` as an agent meets it: Go SDK
// clients calling a tool of the example Go server over Streamable HTTP, at
// 1 and 16 concurrent sessions, against the same server over stdio
// directly and behind supergateway --stateful (the bridge people use
// today); then memory per session, calls made while a secret rotates, and
// what serve costs as a multi-user gateway (gatewayBench).
func serveBench(cfg config) ([]row, error) {
	dir, err := os.MkdirTemp("", "bench-serve")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	envserver := filepath.Join(dir, "envserver")
	if out, err := exec.Command("go", "build", "-o", envserver, "./examples/envserver").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the example server: %v\n%s", err, out)
	}
	const token = "bench-secret-value-0123456789"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("TOKEN="+token+"\n"), 0o600); err != nil {
		return nil, err
	}
	config := `{"mcpServers": {"env": {"command": "` + envserver + `", "env": {"TOKEN": "$<TOKEN>"}}}}`
	if err := os.WriteFile(filepath.Join(dir, "mcp.json"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	serve, err := startServer(dir, "/healthz", cfg.cli, "serve", "--config", "mcp.json", "--listen", "127.0.0.1:PORT",
		"--log-level", "warn", "--debounce", "20ms", "--debounce-max", "100ms", "--max-sessions", "100")
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	defer serve.stop()
	supergateway, err := filepath.Abs("tools/npm/node_modules/supergateway/dist/index.js")
	if err != nil {
		return nil, err
	}
	sg, err := startServer(dir, "/healthz", "node", supergateway,
		"--stdio", envserver, "--outputTransport", "streamableHttp", "--stateful", "--port", "PORT",
		"--healthEndpoint", "/healthz", "--logLevel", "none")
	if err != nil {
		return nil, fmt.Errorf("supergateway: %w", err)
	}
	defer sg.stop()

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	stdio := func() mcp.Transport {
		cmd := exec.Command(envserver)
		cmd.Env = []string{"TOKEN=" + token}
		return &mcp.CommandTransport{Command: cmd}
	}
	overHTTP := func(url string) func() mcp.Transport {
		return func() mcp.Transport {
			return &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}
		}
	}
	targets := []struct {
		name, protocol string
		transport      func() mcp.Transport
	}{
		{"stdio, directly", "2025-11-25", stdio},
		{"serve, stateful (2025-11-25)", "2025-11-25", overHTTP(serve.url + "/env/mcp")},
		{"serve, stateless pool (2026-07-28)", "", overHTTP(serve.url + "/env/mcp")},
		{"supergateway --stateful", "2025-11-25", overHTTP(sg.url + "/mcp")},
	}
	// Memory first, while the servers' heaps hold nothing of the load.
	var memory []row
	for _, srv := range []struct {
		name string
		s    *server
		path string
	}{{"serve", serve, "/env/mcp"}, {"supergateway", sg, "/mcp"}} {
		own, all, err := perSession(srv.s, overHTTP(srv.s.url+srv.path), 16)
		if err != nil {
			return nil, fmt.Errorf("%s memory: %w", srv.name, err)
		}
		memory = append(memory, row{"memory per session: " + srv.name, fmt.Sprintf("%d KiB", own), fmt.Sprintf("its own RSS growth over 16 sessions; with the session's child: %d KiB", all)})
	}
	var rows []row
	for _, sessions := range []int{1, 16} {
		p50 := make([]time.Duration, len(targets))
		var notes []string
		for i, tg := range targets {
			lat, rate, err := load(tg.transport, tg.protocol, sessions, 3000/sessions)
			if err != nil {
				return rows, fmt.Errorf("%s, %d sessions: %w", tg.name, sessions, err)
			}
			p50[i] = percentile(lat, 0.5)
			notes = append(notes, fmt.Sprintf("p99 %s; %.0f calls/s", us(percentile(lat, 0.99)), rate))
		}
		added := func(i int) time.Duration { return p50[i] - p50[0] }
		for i, tg := range targets {
			note := notes[i]
			if i > 0 {
				note += "; added " + us(added(i)) + " over stdio"
			}
			if strings.HasPrefix(tg.name, "serve") {
				note += "; target < 1 ms and below supergateway's " + us(added(len(targets)-1))
			}
			rows = append(rows, row{fmt.Sprintf("tool call p50, %d session(s): %s", sessions, tg.name), us(p50[i]), note})
		}
	}
	rows = append(rows, memory...)
	calls, failed, err := rotating(serve, overHTTP(serve.url+"/env/mcp"), filepath.Join(dir, ".env"), 16, 10)
	if err != nil {
		return rows, fmt.Errorf("rotation: %w", err)
	}
	rows = append(rows, row{"serve: calls by 16 sessions during 10 rotations", fmt.Sprintf("%d calls, %d failed", calls, failed), "target 0 failed"})
	gateway, err := gatewayBench(cfg, dir)
	return append(rows, gateway...), err
}

// gatewayBench measures serve as a multi-user gateway: a tool call's p50
// with OIDC (a JWT, validated once per token) against the static token;
// memory per idle session, and what evicting sessions at --max-sessions
// gives back; the time a one-shot client takes to its first tool result.
func gatewayBench(cfg config, dir string) ([]row, error) {
	iss, err := startIssuer()
	if err != nil {
		return nil, fmt.Errorf("the OIDC issuer: %w", err)
	}
	defer iss.srv.Close()
	const static = "bench-static-token-0123456789"
	withStatic, err := startServer(dir, "/healthz", cfg.cli, "serve", "--config", "mcp.json", "--listen", "127.0.0.1:PORT",
		"--log-level", "warn", "--max-sessions", "100", "--auth-token", static)
	if err != nil {
		return nil, fmt.Errorf("serve --auth-token: %w", err)
	}
	defer withStatic.stop()
	withOIDC, err := startServer(dir, "/healthz", cfg.cli, "serve", "--config", "mcp.json", "--listen", "127.0.0.1:PORT",
		"--log-level", "warn", "--max-sessions", "100", "--oidc-issuer", iss.url, "--oidc-audience", benchAudience)
	if err != nil {
		return nil, fmt.Errorf("serve --oidc-issuer: %w", err)
	}
	defer withOIDC.stop()
	jwt, err := iss.token("alice")
	if err != nil {
		return nil, err
	}
	overHTTP := func(url, token string) func() mcp.Transport {
		hc := &http.Client{Transport: withToken{token, &http.Transport{MaxIdleConnsPerHost: 64}}}
		return func() mcp.Transport {
			return &mcp.StreamableClientTransport{Endpoint: url + "/env/mcp", HTTPClient: hc, MaxRetries: -1}
		}
	}
	var rows []row
	// Two rounds, in turn: the p50 of each is their mean.
	var p50Static, p50OIDC time.Duration
	for range 2 {
		for _, tg := range []struct {
			p50       *time.Duration
			transport func() mcp.Transport
		}{{&p50Static, overHTTP(withStatic.url, static)}, {&p50OIDC, overHTTP(withOIDC.url, jwt)}} {
			lat, _, err := load(tg.transport, "2025-11-25", 1, 3000)
			if err != nil {
				return rows, fmt.Errorf("latency: %w", err)
			}
			*tg.p50 += percentile(lat, 0.5) / 2
		}
	}
	rows = append(rows,
		row{"tool call p50, 1 session: serve --auth-token", us(p50Static), ""},
		row{"tool call p50, 1 session: serve --oidc-issuer", us(p50OIDC), "added " + us(p50OIDC-p50Static) + " over the static token; target < 50 µs"})

	// A one-shot client: connect, call, leave. Stateful, a child starts for
	// it; stateless, a warm pool child answers. With OIDC each client has a
	// token of its own, validated on its first request.
	for _, tg := range []struct {
		name, protocol string
		transport      func() (func() mcp.Transport, error)
	}{
		{"stateful (2025-11-25), static token", "2025-11-25", func() (func() mcp.Transport, error) { return overHTTP(withStatic.url, static), nil }},
		{"stateless (2026-07-28), static token", "", func() (func() mcp.Transport, error) { return overHTTP(withStatic.url, static), nil }},
		{"stateless (2026-07-28), OIDC, a new token each", "", func() (func() mcp.Transport, error) {
			tok, err := iss.token("alice")
			return overHTTP(withOIDC.url, tok), err
		}},
	} {
		var took []time.Duration
		for range 30 {
			transport, err := tg.transport()
			if err != nil {
				return rows, err
			}
			start := time.Now()
			sessions, err := connect(transport, tg.protocol, 1)
			if err == nil {
				err = echo(sessions[0])
			}
			took = append(took, time.Since(start))
			closeAll(sessions)
			if err != nil {
				return rows, fmt.Errorf("one-shot client, %s: %w", tg.name, err)
			}
		}
		rows = append(rows, row{"one-shot client to its first tool result: " + tg.name, ms(percentile(took, 0.5)), "p50 of 30; p99 " + ms(percentile(took, 0.99))})
	}

	// Idle sessions: clients that initialize, list the tools and never
	// send DELETE (health checks, `claude mcp list`), at --max-sessions 8.
	const limit = 8
	capped, err := startServer(dir, "/healthz", cfg.cli, "serve", "--config", "mcp.json", "--listen", "127.0.0.1:PORT",
		"--log-level", "warn", "--max-sessions", strconv.Itoa(limit), "--pool-size", "0")
	if err != nil {
		return rows, fmt.Errorf("serve --max-sessions: %w", err)
	}
	defer capped.stop()
	own0, all0 := treeRSS(capped.cmd.Process.Pid)
	for range limit {
		if err := oneShot(capped.url + "/env/mcp"); err != nil {
			return rows, err
		}
	}
	own1, all1 := treeRSS(capped.cmd.Process.Pid)
	for range 3 * limit {
		if err := oneShot(capped.url + "/env/mcp"); err != nil {
			return rows, err
		}
	}
	// The evicted sessions' children stop in the background.
	children := func() float64 { return metric(capped.url, `mcp_secrets_children{kind="session",server="env"}`) }
	for deadline := time.Now().Add(20 * time.Second); children() > limit; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return rows, errors.New("the evicted sessions' children did not stop within 20s")
		}
	}
	own2, all2 := treeRSS(capped.cmd.Process.Pid)
	evicted := metric(capped.url, `mcp_secrets_sessions_evicted_total{server="env"}`)
	rows = append(rows,
		row{"memory per idle session", fmt.Sprintf("%d KiB", (all1-all0)/limit), fmt.Sprintf("with its child; serve's own %d KiB", (own1-own0)/limit)},
		row{fmt.Sprintf("memory per session after %d more one-shot clients at --max-sessions %d", 3*limit, limit), fmt.Sprintf("%d KiB", (all2-all0)/limit),
			fmt.Sprintf("%.0f evicted, %.0f children live; serve's own %d KiB", evicted, children(), (own2-own0)/limit)})
	return rows, nil
}

// oneShot is a client that initializes, lists the tools and leaves
// without a DELETE.
func oneShot(url string) error {
	session := ""
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
	} {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("one-shot client: %s", resp.Status)
		}
		if session == "" {
			session = resp.Header.Get("Mcp-Session-Id")
		}
	}
	return nil
}

// descendants are the processes below pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 {
			parent, _ := strconv.Atoi(f[1])
			children[parent] = append(children[parent], p)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// withToken sends a bearer token with each request.
type withToken struct {
	token string
	rt    http.RoundTripper
}

func (b withToken) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

const benchAudience = "mcp-secrets-bench"

// issuer is a static OIDC issuer on loopback: its discovery document and a
// JWKS of a key made for the run.
type issuer struct {
	url string
	key *rsa.PrivateKey
	srv *http.Server
}

func startIssuer() (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	iss := &issuer{url: "http://" + ln.Addr().String(), key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": iss.url, "jwks_uri": iss.url + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	iss.srv = &http.Server{Handler: mux}
	go iss.srv.Serve(ln)
	return iss, nil
}

// token is a JWT of the issuer for sub, valid for an hour; each has an id
// of its own.
func (i *issuer) token(sub string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: i.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	return josejwt.Signed(signer).Claims(josejwt.Claims{
		Issuer: i.url, Subject: sub, Audience: josejwt.Audience{benchAudience}, ID: rand.Text(),
		IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(now.Add(time.Hour)),
	}).Serialize()
}

// server is a process serving HTTP on a port of its own.
type server struct {
	cmd *exec.Cmd
	url string
}

// startServer starts argv, whose "PORT" words become a free port, and
// waits until health answers.
func startServer(dir, health string, argv ...string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = strings.ReplaceAll(a, "PORT", port)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stderr = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://127.0.0.1:" + port}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(s.url + health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, errors.New("not answering after 30s")
}

func (s *server) stop() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// connect opens n client sessions.
func connect(transport func() mcp.Transport, protocol string, n int) ([]*mcp.ClientSession, error) {
	var opts *mcp.ClientSessionOptions
	if protocol != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: protocol}
	}
	var out []*mcp.ClientSession
	for range n {
		c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "v1"}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cs, err := c.Connect(ctx, transport(), opts)
		cancel()
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, cs)
	}
	return out, nil
}

func closeAll(sessions []*mcp.ClientSession) {
	for _, cs := range sessions {
		cs.Close()
	}
}

func echo(cs *mcp.ClientSession) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}})
	if err == nil && res.IsError {
		err = errors.New("tool error")
	}
	return err
}

// load has n sessions call a tool calls times each, at once, after a warm
// up; it returns every call's latency and the calls per second.
func load(transport func() mcp.Transport, protocol string, n, calls int) ([]time.Duration, float64, error) {
	sessions, err := connect(transport, protocol, n)
	if err != nil {
		return nil, 0, err
	}
	defer closeAll(sessions)
	lat := make([][]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	var start time.Time
	ready := make(chan struct{})
	for i, cs := range sessions {
		wg.Go(func() {
			for range 100 {
				if errs[i] = echo(cs); errs[i] != nil {
					return
				}
			}
			<-ready
			for range calls {
				t := time.Now()
				if errs[i] = echo(cs); errs[i] != nil {
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // the warm up
	start = time.Now()
	close(ready)
	wg.Wait()
	took := time.Since(start)
	var all []time.Duration
	for i := range sessions {
		if errs[i] != nil {
			return nil, 0, errs[i]
		}
		all = append(all, lat[i]...)
	}
	return all, float64(len(all)) / took.Seconds(), nil
}

// perSession is how much the server's RSS grows per stateful session
// opened, alone and with the session's child, in KiB.
func perSession(s *server, transport func() mcp.Transport, n int) (own, all int, err error) {
	ownBefore, allBefore := treeRSS(s.cmd.Process.Pid)
	sessions, err := connect(transport, "2025-11-25", n)
	if err != nil {
		return 0, 0, err
	}
	defer closeAll(sessions)
	for _, cs := range sessions {
		if err := echo(cs); err != nil {
			return 0, 0, err
		}
	}
	ownAfter, allAfter := treeRSS(s.cmd.Process.Pid)
	return (ownAfter - ownBefore) / n, (allAfter - allBefore) / n, nil
}

// treeRSS is the RSS of pid alone and with its descendants, in KiB.
func treeRSS(pid int) (own, all int) {
	own = rss(pid)
	all = own
	for _, p := range descendants(pid) {
		all += rss(p)
	}
	return own, all
}

func rss(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		if _, err := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &kb); err == nil {
			return kb
		}
	}
	return 0
}

// rotating has n stateful sessions call a tool in a loop while the .env
// changes times times, each change waited for on /metrics until every
// session's child restarted with it; it counts the calls and the failed
// ones.
func rotating(s *server, transport func() mcp.Transport, dotenv string, n, times int) (calls, failed int64, err error) {
	sessions, err := connect(transport, "2025-11-25", n)
	if err != nil {
		return 0, 0, err
	}
	defer closeAll(sessions)
	var c, f atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, cs := range sessions {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if echo(cs) != nil {
					f.Add(1)
				}
				c.Add(1)
			}
		})
	}
	err = rotate(s, dotenv, n, times)
	close(stop)
	wg.Wait()
	return c.Load(), f.Load(), err
}

func rotate(s *server, dotenv string, n, times int) error {
	restarts := func() float64 { return metric(s.url, `mcp_secrets_restarts_total{reason="rotation",server="env"}`) }
	for i := 1; i <= times; i++ {
		before := restarts()
		if err := os.WriteFile(dotenv, []byte(fmt.Sprintf("TOKEN=bench-rotated-value-%d\n", i)), 0o600); err != nil {
			return err
		}
		for deadline := time.Now().Add(60 * time.Second); restarts() < before+float64(n); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				return fmt.Errorf("rotation %d: the sessions did not restart within 60s", i)
			}
		}
	}
	return nil
}

// metric reads one sample of a /metrics page, 0 if absent.
func metric(url, sample string) float64 {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
