//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// mcpBench measures what the MCP-aware launcher adds between a client and a
// stdio server: round-trip latency of small calls (p50, p99) and throughput
// of large tool results, directly and through `mcp-secrets run` with 100
// secrets to redact. The server is this program in blob mode, which answers
// every request with a prepared line, so the numbers are the launcher's.
func mcpBench(cfg config) ([]row, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-mcp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	env, err := refsEnv(dir, 100)
	if err != nil {
		return nil, err
	}
	server := func(size int, lines bool) []string {
		return []string{self, "-blob-server", fmt.Sprint(size), fmt.Sprintf("-blob-lines=%v", lines)}
	}
	through := func(size int, lines bool) []string {
		return append([]string{cfg.cli, "run", "--mcp", "on", "--"}, server(size, lines)...)
	}

	var rows []row
	const calls = 3000
	direct, err := roundTrips(server(100, false), env, calls)
	if err != nil {
		return nil, err
	}
	via, err := roundTrips(through(100, false), env, calls)
	if err != nil {
		return nil, err
	}
	// The floor of any relay process here: one that only copies bytes, a
	// cat each way, costs the same two extra pipe hops and wakeups.
	copied, err := roundTrips([]string{"sh", "-c", `cat | "$@" | cat`, "sh", self, "-blob-server", "100"}, env, calls)
	if err != nil {
		return nil, err
	}
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 0.5}, {"p99", 0.99}} {
		d, v, c := percentile(direct, q.p), percentile(via, q.p), percentile(copied, q.p)
		note := fmt.Sprintf("direct %s; added %.0f µs (x%.2f); a byte-copying relay (cat | server | cat) adds %.0f µs", us(d), float64(v-d)/float64(time.Microsecond), float64(v)/float64(d), float64(c-d)/float64(time.Microsecond))
		if q.name == "p50" {
			note += "; target added < 100 µs"
		}
		rows = append(rows, row{"small call round trip, " + q.name + ", through run (100 secrets)", us(v), note})
	}
	const size, n = 4 << 20, 40
	for _, lines := range []bool{false, true} {
		kind := "plain text"
		if lines {
			kind = "lines (a \\n every 80 bytes)"
		}
		dt, err := throughput(server(size, lines), env, n)
		if err != nil {
			return rows, err
		}
		vt, err := throughput(through(size, lines), env, n)
		if err != nil {
			return rows, err
		}
		rows = append(rows,
			row{"4 MiB tool results of " + kind + ", directly", fmt.Sprintf("%.0f MB/s", dt), ""},
			row{"4 MiB tool results of " + kind + ", through run (100 secrets, redacting)", fmt.Sprintf("%.0f MB/s", vt), "target >= 500 MB/s"},
		)
	}
	return rows, nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

// session is a raw client on a started server's stdio.
type session struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	n   int
}

func startSession(argv, env []string) (*session, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, envDir(env)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &session{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}
	_, err = s.call("initialize")
	return s, err
}

// call sends a request and reads its response line, returning its size.
func (s *session) call(method string) (int, error) {
	s.n++
	fmt.Fprintf(s.in, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":{}}`+"\n", s.n, method)
	n := 0
	for {
		line, err := s.out.ReadSlice('\n')
		n += len(line)
		if err == bufio.ErrBufferFull {
			continue
		}
		return n, err
	}
}

func (s *session) close() {
	s.in.Close()
	s.cmd.Wait()
}

func roundTrips(argv, env []string, calls int) ([]time.Duration, error) {
	s, err := startSession(argv, env)
	if err != nil {
		return nil, err
	}
	defer s.close()
	for range 200 { // warm up
		if _, err := s.call("tools/call"); err != nil {
			return nil, err
		}
	}
	d := make([]time.Duration, 0, calls)
	for range calls {
		start := time.Now()
		if _, err := s.call("tools/call"); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

// throughput is MB/s of n large responses read in a row.
func throughput(argv, env []string, n int) (float64, error) {
	s, err := startSession(argv, env)
	if err != nil {
		return 0, err
	}
	defer s.close()
	if _, err := s.call("tools/call"); err != nil {
		return 0, err
	}
	start := time.Now()
	total := 0
	for range n {
		b, err := s.call("tools/call")
		if err != nil {
			return 0, err
		}
		total += b
	}
	return float64(total) / 1e6 / time.Since(start).Seconds(), nil
}

// blobServer answers every request on stdin with a result holding a text of
// size bytes (JSON-RPC over newline-delimited stdio), as fast as it can;
// with lines, the text has a newline (a \n escape) every 80 bytes.
func blobServer(size int, lines bool) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog; 0123456789 ", size/56+1)[:size]
	if lines {
		unit := `The quick brown fox jumps over the lazy dog; 0123456789 \"quoted\" and so on, \n` // 80 bytes, JSON-escaped
		text = strings.Repeat(unit, size/len(unit))
	}
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return
		}
		i := bytes.Index(line, []byte(`"id":`))
		j := bytes.IndexByte(line[i:], ',')
		if i < 0 || j < 0 {
			continue
		}
		id := line[i+5 : i+j]
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"%s"}]}}`+"\n", id, text)
		out.Flush()
	}
}
