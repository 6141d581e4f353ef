// The benchmarks build their servers with e2e_test.go's build.

//go:build linux

package sidecar_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/sidecar"
)

// The cost of one small tool call (raw JSON-RPC, no SDK client) to the
// example Go server: over its stdio, and through the sidecar over HTTP
// with keep-alive, in a stateful session and through the stateless pool.
// The difference is what the sidecar adds.
func BenchmarkToolCall(b *testing.B) {
	_, envserver := build(b)
	call := func(id int) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`, id)
	}
	initialize := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`

	b.Run("stdio", func(b *testing.B) {
		cmd := exec.Command(envserver)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer cmd.Wait()
		defer in.Close()
		r := bufio.NewReader(out)
		roundTrip := func(line string) {
			io.WriteString(in, line+"\n")
			if _, err := r.ReadBytes('\n'); err != nil {
				b.Fatal(err)
			}
		}
		roundTrip(initialize)
		io.WriteString(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
		b.ResetTimer()
		for i := range b.N {
			roundTrip(call(i + 1))
		}
	})

	url := serveInProcess(b, envserver)
	hc := &http.Client{}
	post := func(body, session string, header ...string) *http.Response {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("%s: %d", body, resp.StatusCode)
		}
		return resp
	}
	b.Run("serve/stateful", func(b *testing.B) {
		session := post(initialize, "").Header.Get("Mcp-Session-Id")
		post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, session)
		b.ResetTimer()
		for i := range b.N {
			post(call(i+1), session, "Mcp-Protocol-Version", "2025-11-25")
		}
	})
	b.Run("serve/stateless", func(b *testing.B) {
		for i := range b.N {
			body := strings.Replace(call(i+1), `"arguments"`, `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"arguments"`, 1)
			post(body, "", "Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/call", "Mcp-Name", "echo")
		}
	})
}

// serveInProcess serves envserver as "env" from this process, for
// profiles of the sidecar itself.
func serveInProcess(b *testing.B, envserver string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sc := sidecar.New(sidecar.Options{
		Spec:            injector.Spec{OwnGroup: true, StopSignal: syscall.SIGTERM, StopTimeout: 2 * time.Second},
		Stderr:          io.Discard,
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:         sidecar.NewMetrics(),
		MaxSessions:     10,
		MaxBodyBytes:    1 << 20,
		PoolSize:        1,
		ShutdownTimeout: 5 * time.Second,
	}, []sidecar.Server{{Name: "env", Launch: launch.Launch{Argv: []string{envserver}}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		sc.Serve(ctx, ln, nil)
		close(done)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String() + "/env/mcp"
}
