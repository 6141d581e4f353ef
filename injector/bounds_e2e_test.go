//go:build linux

package injector_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// rssLimit is the launcher's memory promise under any input (DESIGN.md,
// "Containment and bounds").
const rssLimit = 64 << 20

// peakRSS is a live process's peak resident set (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

const huge = 1500 << 20 // 1.5 GB, as the hostile tester printed

// Every input that used to grow until the machine killed something is
// bounded: the launcher's peak RSS stays under 64 MB, and the documented
// behaviour follows. The control shows the measurement sees 100 MB.
func TestBoundedInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	cli := testenv.PlainCLI(t) // its memory is measured
	self, _ := os.Executable()

	t.Run("control", func(t *testing.T) {
		cmd := exec.Command(self)
		cmd.Env = injector.RoleEnv("alloc", "ALLOC_MB=100")
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		bufio.NewReader(out).ReadString('\n')
		if rss := peakRSS(t, cmd.Process.Pid); rss <= rssLimit {
			t.Errorf("a process that touched 100 MB peaked at %d MB by this measure", rss>>20)
		}
		in.Close()
		cmd.Wait()
	})

	// launcher starts `run [flags] -- self` with the child playing role.
	launcher := func(t *testing.T, flags []string, env ...string) (*exec.Cmd, io.WriteCloser, io.ReadCloser, *testenv.Buffer) {
		cmd := exec.Command(cli, append(append([]string{"run"}, flags...), "--", self)...)
		cmd.Env = append(os.Environ(), env...)
		stderr := &testenv.Buffer{}
		cmd.Stderr = stderr
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				s := stderr.String()
				t.Logf("launcher stderr (%d bytes):\n%.4000s", len(s), s)
			}
		})
		return cmd, in, out, stderr
	}
	check := func(t *testing.T, cmd *exec.Cmd) {
		t.Helper()
		rss := peakRSS(t, cmd.Process.Pid)
		if rss > rssLimit {
			t.Errorf("the launcher peaked at %d MB", rss>>20)
		}
		t.Logf("peak RSS %d MB", rss>>20)
	}

	t.Run("a server's message without a newline", func(t *testing.T) {
		reply := `{"jsonrpc":"2.0","id":2,"result":{}}`
		// --mcp on: this server speaks before the client, which auto takes
		// for a program that is not an MCP server.
		cmd, in, out, stderr := launcher(t, []string{"--mcp", "on"}, "INJECTOR_TEST_ROLE=print", fmt.Sprintf("PRINT_BYTES=%d", huge), "PRINT_AFTER=\n"+reply+"\n")
		fmt.Fprintln(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != reply {
			t.Fatalf("the client got %.200q, %v; want the message after the dropped one", line, err)
		}
		check(t, cmd)
		if !strings.Contains(stderr.String(), "dropped a message from the server longer than the limit") {
			t.Errorf("no warning of the dropped message")
		}
	})

	t.Run("raw output without a newline", func(t *testing.T) {
		cmd, in, out, _ := launcher(t, []string{"--mcp", "off"}, "INJECTOR_TEST_ROLE=print", fmt.Sprintf("PRINT_BYTES=%d", huge), "PRINT_AFTER=end")
		defer in.Close()
		n, _ := io.Copy(io.Discard, io.LimitReader(out, huge+3))
		if n != huge+3 {
			t.Fatalf("the client got %d bytes, want %d", n, huge+3)
		}
		check(t, cmd)
	})

	t.Run("stderr without a newline", func(t *testing.T) {
		cmd := exec.Command(cli, "run", "--", self)
		cmd.Env = append(os.Environ(), "INJECTOR_TEST_ROLE=print", "PRINT_TO=stderr", fmt.Sprintf("PRINT_BYTES=%d", huge), "PRINT_AFTER=end")
		errR, _ := cmd.StderrPipe()
		in, _ := cmd.StdinPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		var n int64
		buf := make([]byte, 1<<20)
		for n < huge+3 {
			k, err := errR.Read(buf)
			n += int64(k)
			if err != nil {
				t.Fatalf("after %d bytes of stderr: %v", n, err)
			}
		}
		check(t, cmd)
		in.Close()
	})

	t.Run("a long stderr line with nothing to redact", func(t *testing.T) {
		// It used to panic the launcher (nil redactor) and take the
		// client's server down with it.
		cmd := exec.Command(cli, "run", "--", self)
		cmd.Env = append(os.Environ(), "INJECTOR_TEST_ROLE=print", "PRINT_TO=stderr", "PRINT_BYTES=200000")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdin = strings.NewReader("")
		err := cmd.Run()
		if err != nil || !strings.HasPrefix(stderr.String(), strings.Repeat("a", 200000)) {
			t.Errorf("run: %v; stderr %d bytes: %.300s", err, stderr.Len(), stderr.String())
		}
	})

	t.Run("a client's message without a newline", func(t *testing.T) {
		cmd, in, out, stderr := launcher(t, nil, "INJECTOR_TEST_ROLE=fake-mcp", "FAKE_VALUE=ok")
		r := bufio.NewReader(out)
		fmt.Fprintln(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
		r.ReadString('\n')
		// A request whose id comes first, then 1.5 GB of params: it gets an
		// error reply, and the session goes on.
		go func() {
			io.WriteString(in, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"x":"`)
			chunk := bytes.Repeat([]byte("b"), 1<<20)
			for range huge >> 20 {
				if _, err := in.Write(chunk); err != nil {
					return
				}
			}
			io.WriteString(in, "\"}}\n"+`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}`+"\n")
		}()
		first, _ := r.ReadString('\n')
		second, _ := r.ReadString('\n')
		if !strings.Contains(first, `"id":2`) || !strings.Contains(first, "--max-message") || !strings.Contains(second, `"id":3`) || !strings.Contains(second, `"ok"`) {
			t.Errorf("replies %.300q then %.300q; want an error for 2, then 3 answered", first, second)
		}
		check(t, cmd)
		_ = stderr
	})

	t.Run("a server that never reads stdin", func(t *testing.T) {
		cmd, in, _, _ := launcher(t, nil, "INJECTOR_TEST_ROLE=sleep")
		var written atomic.Int64
		go func() {
			io.WriteString(in, "not json: raw mode\n")
			chunk := bytes.Repeat([]byte("c"), 1<<20)
			for range 1 << 10 {
				n, err := in.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		// The launcher takes what fits its bounded queue, then the client's
		// writes block: backpressure, not memory.
		testenv.WaitFor(t, "the client's writes to stall", 30*time.Second, func() bool {
			before := written.Load()
			time.Sleep(300 * time.Millisecond)
			return written.Load() == before && before > 0
		})
		if w := written.Load(); w > 256<<20 {
			t.Errorf("the launcher took %d MB from a client whose server reads nothing", w>>20)
		}
		check(t, cmd)
	})
}
