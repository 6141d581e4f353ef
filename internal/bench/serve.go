//go:build linux

package main

import (
	"bufio"
	"context"
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

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serveBench measures `mcp-secrets serve` as an agent meets it: Go SDK
// clients calling a tool of the example Go server over Streamable HTTP, at
// 1 and 16 concurrent sessions, against the same server over stdio
// directly and behind supergateway --stateful (the bridge people use
// today); then memory per session, and calls made while a secret rotates.
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
	return rows, nil
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
	own = rss(pid)
	all = own
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		all += rss(queue[0])
		queue = append(queue, children[queue[0]]...)
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
