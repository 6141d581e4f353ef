package injector

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

// proxied runs a Supervisor in MCP mode on the bench's blob server (which
// answers every request with a size-byte result) and returns a raw client.
func proxied(b *testing.B, size int) (call func() int, stop func()) {
	blob := testenv.Build(b, "github.com/mcp-secrets/mcp-secrets/internal/bench", "bench")
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	var set redact.Set
	var secrets []redact.Secret
	for i := range 100 {
		secrets = append(secrets, redact.Secret{Name: fmt.Sprintf("V%d", i), Value: fmt.Sprintf("value-%d-0123456789", i)})
	}
	set.Store(redact.New(secrets))
	s := &Supervisor{
		Spec:  Spec{OwnGroup: true, StopSignal: syscall.SIGTERM, StopTimeout: time.Second},
		Stdin: inR, Stdout: outW, Stderr: io.Discard,
		MCP: MCPOn, Redact: &set,
		Log: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, launch.Launch{Argv: []string{blob, "-blob-server", fmt.Sprint(size)}, Env: os.Environ()}, nil, nil)
	}()
	out := bufio.NewReaderSize(outR, 1<<20)
	n := 0
	call = func() int {
		n++
		fmt.Fprintf(inW, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{}}`+"\n", n)
		total := 0
		for {
			line, err := out.ReadSlice('\n')
			total += len(line)
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			return total
		}
	}
	return call, func() { cancel(); inW.Close(); <-done; outR.Close() }
}

func BenchmarkProxyRoundTrip(b *testing.B) {
	call, stop := proxied(b, 100)
	defer stop()
	call()
	for b.Loop() {
		call()
	}
}

func BenchmarkProxyThroughput(b *testing.B) {
	call, stop := proxied(b, 4<<20)
	defer stop()
	b.SetBytes(int64(call()))
	for b.Loop() {
		call()
	}
}
