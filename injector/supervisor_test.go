package injector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/backoff"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/launch"
)

// harness runs a Supervisor in-process in MCP mode on the fake server, with
// a raw client on its stdio.
type harness struct {
	t       *testing.T
	in      *os.File // the client's end of the supervisor's stdin
	out     *bufio.Reader
	updates chan launch.Launch
	log     *testenv.Buffer
	n       int
	done    chan struct{}
	code    int
	err     error
}

func fake(value string, kv ...string) launch.Launch {
	self, _ := os.Executable()
	return launch.Launch{Argv: []string{self}, Env: RoleEnv("fake-mcp", append([]string{"FAKE_VALUE=" + value}, kv...)...)}
}

func newHarness(t *testing.T, first launch.Launch, sup *Supervisor, signals ...chan os.Signal) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, in: inW, out: bufio.NewReader(outR), updates: make(chan launch.Launch), log: &testenv.Buffer{}, done: make(chan struct{})}
	if sup == nil {
		sup = &Supervisor{}
	}
	sup.Spec = Spec{OwnGroup: true, StopSignal: syscall.SIGTERM, StopTimeout: 2 * time.Second}
	sup.Stdin, sup.Stdout, sup.Stderr = inR, outW, h.log
	sup.MCP = MCPOn
	sup.Log = slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var sigs chan os.Signal
	if len(signals) > 0 {
		sigs = signals[0]
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(h.done)
		h.code, h.err = sup.Run(ctx, first, h.updates, sigs)
		outW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return")
		}
		inR.Close()
		outR.Close()
		if t.Failed() {
			t.Logf("supervisor log:\n%s", h.log.String())
		}
	})
	return h
}

// request sends a request and returns its reply's result or error.
func (h *harness) request(method string, params any) (json.RawMessage, error) {
	h.t.Helper()
	h.n++
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": h.n, "method": method, "params": params})
	if _, err := h.in.Write(append(b, '\n')); err != nil {
		h.t.Fatal(err)
	}
	for {
		line, err := h.out.ReadBytes('\n')
		if err != nil {
			h.t.Fatalf("reading the reply to %s: %v", method, err)
		}
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(line, &m) != nil || m.ID != h.n {
			continue // a notification
		}
		if m.Error != nil {
			return nil, fmt.Errorf("%s", m.Error.Message)
		}
		return m.Result, nil
	}
}

func (h *harness) initialize() {
	h.t.Helper()
	if _, err := h.request("initialize", map[string]any{"protocolVersion": "2025-11-25"}); err != nil {
		h.t.Fatal(err)
	}
	h.in.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n"))
}

// value is what the current child answers tools/call with.
func (h *harness) value() string {
	h.t.Helper()
	res, err := h.request("tools/call", map[string]any{"name": "x"})
	if err != nil {
		return "error: " + err.Error()
	}
	var r struct {
		Content []struct{ Text string } `json:"content"`
	}
	json.Unmarshal(res, &r)
	if len(r.Content) == 0 {
		return ""
	}
	return r.Content[0].Text
}

// settle asks until the child answers want, and fails on any value in
// never on the way.
func (h *harness) settle(want string, within time.Duration, never ...string) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := h.value()
		for _, bad := range never {
			if got == bad {
				h.t.Fatalf("the child answered %q, a launch older than the newest", got)
			}
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("after %v the child still answers %q, want %q", within, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) waitLog(what string, n int) {
	h.t.Helper()
	testenv.WaitFor(h.t, fmt.Sprintf("%d × %q in the log", n, what), 15*time.Second, func() bool { return strings.Count(h.log.String(), what) >= n })
}

// The newest launch wins every interleaving of rotations, replays and
// retries (DESIGN.md: "One owner of the newest wanted launch").
func TestNewestLaunchWins(t *testing.T) {
	t.Run("rotation during a replay", func(t *testing.T) {
		h := newHarness(t, fake("v0"), nil)
		h.initialize()
		h.settle("v0", 5*time.Second)
		h.updates <- fake("v1", "FAKE_INIT_DELAY=300ms")
		h.waitLog("restart begun", 1)
		h.updates <- fake("v2")
		h.settle("v2", 10*time.Second)
		h.waitLog("restart finished", 2)
	})
	t.Run("failed replay with a newer launch waiting", func(t *testing.T) {
		// The retry pause is long: the newer launch must be tried at once,
		// not parked behind a retry of the older one.
		h := newHarness(t, fake("v0"), &Supervisor{retryPolicy: backoff.Policy{First: time.Hour, Max: time.Hour}})
		h.initialize()
		h.updates <- fake("v1", "FAKE_INIT_DELAY=300ms", "FAKE_INIT_FAIL=1")
		h.waitLog("restart begun", 1)
		h.updates <- fake("v2")
		h.settle("v2", 10*time.Second, "v1")
	})
	t.Run("late retry timer", func(t *testing.T) {
		// v1 is refused once; its retry is due 400ms later, after v2 took
		// over. Were the retry to run v1, it would succeed now.
		marker := filepath.Join(t.TempDir(), "refused")
		h := newHarness(t, fake("v0"), &Supervisor{retryPolicy: backoff.Policy{First: 400 * time.Millisecond, Max: time.Second}})
		h.initialize()
		h.updates <- fake("v1", "FAKE_INIT_FAIL_ONCE="+marker)
		h.waitLog("restart failed", 1)
		h.updates <- fake("v2")
		h.settle("v2", 10*time.Second, "v1")
		time.Sleep(time.Second) // past the retry's time
		h.settle("v2", 0, "v1")
		if n := strings.Count(h.log.String(), "restart begun"); n != 2 {
			t.Errorf("%d restarts begun, want 2 (v1 once, v2 once)", n)
		}
	})
	t.Run("retry runs the newest", func(t *testing.T) {
		// Without a newer launch, a refused restart is retried until it
		// takes over.
		marker := filepath.Join(t.TempDir(), "refused")
		h := newHarness(t, fake("v0"), &Supervisor{retryPolicy: backoff.Policy{First: 100 * time.Millisecond, Max: time.Second}})
		h.initialize()
		h.updates <- fake("v1", "FAKE_INIT_FAIL_ONCE="+marker)
		h.settle("v1", 10*time.Second)
	})
}
