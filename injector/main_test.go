package injector

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary is also the children the tests start, by role: a fake
// MCP server whose answers its environment steers, the watchdog, and
// misbehaving processes. Real processes, so the supervisor meets real
// pipes, exits and signals.
const roleEnv = "INJECTOR_TEST_ROLE"

func TestMain(m *testing.M) {
	switch role := os.Getenv(roleEnv); role {
	case "":
		os.Exit(m.Run())
	case "fake-mcp":
		fakeMCP()
	case "watchdog":
		os.Exit(WatchdogMain(os.Stdin))
	case "print":
		printBytes()
	case "alloc":
		allocate()
	case "sleep":
		time.Sleep(time.Hour)
	case "nonblock":
		nonblock()
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", roleEnv, role)
		os.Exit(2)
	}
	os.Exit(0)
}

// RoleEnv is the environment that makes the test binary play role.
func RoleEnv(role string, kv ...string) []string {
	return append(append(os.Environ(), roleEnv+"="+role), kv...)
}

// fakeMCP is a line-delimited JSON-RPC server that, like the Go SDK's,
// refuses calls before initialize. FAKE_VALUE is what tools/call returns;
// FAKE_INIT_DELAY delays the initialize reply; FAKE_INIT_FAIL refuses it;
// FAKE_INIT_FAIL_ONCE=PATH refuses it unless PATH exists, and creates it.
func fakeMCP() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 64<<20)
	out := bufio.NewWriter(os.Stdout)
	reply := func(id json.RawMessage, result any, errMsg string) {
		m := map[string]any{"jsonrpc": "2.0", "id": id}
		if errMsg != "" {
			m["error"] = map[string]any{"code": -32600, "message": errMsg}
		} else {
			m["result"] = result
		}
		b, _ := json.Marshal(m)
		out.Write(append(b, '\n'))
		out.Flush()
	}
	initialized := false
	for in.Scan() {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(in.Bytes(), &m) != nil || m.ID == nil {
			continue
		}
		switch m.Method {
		case "initialize":
			if d, err := time.ParseDuration(os.Getenv("FAKE_INIT_DELAY")); err == nil {
				time.Sleep(d)
			}
			if os.Getenv("FAKE_INIT_FAIL") != "" || refuseOnce() {
				reply(m.ID, nil, "initialize refused")
				continue
			}
			initialized = true
			reply(m.ID, map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{"tools": map[string]any{}}, "serverInfo": map[string]any{"name": "fake", "version": "1"}}, "")
		case "tools/call":
			if !initialized {
				reply(m.ID, nil, `method "tools/call" is invalid during session initialization`)
				continue
			}
			reply(m.ID, map[string]any{"content": []any{map[string]any{"type": "text", "text": os.Getenv("FAKE_VALUE")}}}, "")
		default:
			reply(m.ID, map[string]any{}, "")
		}
	}
}

func refuseOnce() bool {
	path := os.Getenv("FAKE_INIT_FAIL_ONCE")
	if path == "" {
		return false
	}
	if _, err := os.Stat(path); err == nil {
		return false
	}
	os.WriteFile(path, []byte("x"), 0o600)
	return true
}

// printBytes writes PRINT_BYTES bytes of 'a' without a newline to
// PRINT_TO (stdout or stderr), then PRINT_AFTER, then waits for stdin to
// close.
func printBytes() {
	n, _ := strconv.ParseInt(os.Getenv("PRINT_BYTES"), 10, 64)
	w := os.Stdout
	if os.Getenv("PRINT_TO") == "stderr" {
		w = os.Stderr
	}
	buf := []byte(strings.Repeat("a", 64<<10))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := w.Write(buf[:k]); err != nil {
			os.Exit(3)
		}
		n -= k
	}
	io.WriteString(w, os.Getenv("PRINT_AFTER"))
	io.Copy(io.Discard, os.Stdin)
}

// allocate touches ALLOC_MB megabytes and prints "ready", for the control
// of the memory measurements.
func allocate() {
	n, _ := strconv.Atoi(os.Getenv("ALLOC_MB"))
	b := make([]byte, n<<20)
	for i := range b {
		b[i] = 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	fmt.Fprint(io.Discard, b[len(b)-1])
}

// nonblock sets O_NONBLOCK on its stdin and stdout, as the launcher must
// never do to its client's: the control of that test.
func nonblock() {
	setNonblock(0)
	setNonblock(1)
	fmt.Println("x")
	time.Sleep(30 * time.Second)
}
