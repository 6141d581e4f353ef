package injector_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// rawClient speaks newline-delimited JSON-RPC to the launcher, so a test
// sees the bytes on the wire, and can send what no SDK would.
type rawClient struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *testenv.Buffer
	id     int
	echoes int // stderr lines asked of the server
}

func (w *world) raw(env, flags []string, server ...string) *rawClient {
	w.t.Helper()
	cmd := w.command(env, flags, server...)
	c := &rawClient{t: w.t, cmd: cmd, stderr: w.stderr}
	c.in, _ = cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	c.out = bufio.NewReaderSize(out, 1<<20)
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		c.in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return c
}

func (c *rawClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, line); err != nil {
		c.t.Fatal(err)
	}
}

// request sends a request and returns its reply and the lines that came
// before it, as they were on the wire.
func (c *rawClient) request(method string, params any) (reply string, before []string) {
	c.t.Helper()
	c.id++
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id, "method": method, "params": params})
	c.send(string(b) + "\n")
	for {
		line, err := c.out.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading the reply to %s: %v (so far: %q)", method, err, before)
		}
		var m struct {
			ID *int `json:"id"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.ID != nil && *m.ID == c.id {
			return line, before
		}
		before = append(before, line)
	}
}

func (c *rawClient) initialize() {
	c.t.Helper()
	c.request("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "raw", "version": "1"}})
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n")
}

// leak has the server print variable name in form on channel, and returns
// what the client got on the wire, and the launcher's stderr.
func (c *rawClient) leak(name, form, channel string) (wire, stderr string) {
	c.t.Helper()
	params := map[string]any{"name": "leak", "arguments": map[string]any{"name": name, "form": form, "channel": channel}}
	if channel == "progress" {
		params["_meta"] = map[string]any{"progressToken": fmt.Sprintf("p%d", c.id+1)}
	}
	reply, before := c.request("tools/call", params)
	if channel == "stderr" {
		c.echoes++
		testenv.WaitFor(c.t, "the server's stderr", 5*time.Second, func() bool { return strings.Count(c.stderr.String(), "envserver: ") >= c.echoes })
		time.Sleep(50 * time.Millisecond) // the rest of a multi-line value
	}
	return strings.Join(before, "") + reply, c.stderr.String()
}

// printed is what the server printed, as the client received it with
// redaction off: the payload of the result, error or notification, decoded
// from the wire's JSON once.
func printed(t *testing.T, wire, channel string) string {
	t.Helper()
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(wire), "\n") {
		var m struct {
			Result *struct {
				Content []struct{ Text string } `json:"content"`
			} `json:"result"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
			Method string `json:"method"`
			Params struct {
				Message string `json:"message"`
			} `json:"params"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON on the client's stdout: %q", line)
		}
		switch {
		case channel == "result" && m.Result != nil && len(m.Result.Content) > 0:
			out = append(out, m.Result.Content[0].Text)
		case channel == "error" && m.Error != nil:
			out = append(out, m.Error.Message)
		case channel == "progress" && m.Method == "notifications/progress":
			out = append(out, m.Params.Message)
		}
	}
	return strings.Join(out, "")
}

// The redaction corpus through run: every form a real encoder emits, in a
// tool result, an error, a notification and on stderr, never reaches the
// client; the control (--redact=false) proves the server did print it.
func TestRedactionCorpus(t *testing.T) {
	dotenv := strings.Join([]string{
		`TOKEN=tok-0123456789abcdef`,
		`UMLAUT=pässwörd-Ärger-2026`,
		`QUOTED='pa"ss\wo/rd-0123'`,
		`PEM="-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----"`,
		`DB_PASSWORD=s3cr3t-p4ss-w0rd`,
	}, "\n") + "\n"
	env := []string{"TOKEN=$<TOKEN>", "UMLAUT=$<UMLAUT>", "QUOTED=$<QUOTED>", "PEM=$<PEM>",
		"DATABASE_URL=postgresql://reporting:$<DB_PASSWORD>@db:5432/reporting"}
	forms := map[string][]string{
		"TOKEN":        {"plain", "base64", "base64url", "base64raw", "url"},
		"UMLAUT":       {"plain", "json-ascii", "json-text", "url", "base64"},
		"QUOTED":       {"plain", "json-slash", "json-text", "json-ascii", "url", "base64url"},
		"PEM":          {"plain", "json-text", "base64-pem", "base64-mime"},
		"DATABASE_URL": {"plain", "password", "basic", "url"},
	}
	w := newWorld(t, dotenv)
	control := w.raw(env, []string{"--redact=false"}, w.envserver)
	control.initialize()
	w2 := newWorld(t, dotenv)
	redacted := w2.raw(env, nil, w2.envserver)
	redacted.initialize()
	for _, name := range []string{"TOKEN", "UMLAUT", "QUOTED", "PEM", "DATABASE_URL"} {
		for _, form := range forms[name] {
			for _, channel := range []string{"result", "error", "progress", "stderr"} {
				t.Run(name+"/"+form+"/"+channel, func(t *testing.T) {
					cw, cstderr := control.leak(name, form, channel)
					rw, rstderr := redacted.leak(name, form, channel)
					var shown string
					if channel == "stderr" {
						shown = cstderr
					} else {
						shown = printed(t, cw, channel)
					}
					// What the server printed, line by line (a wrapped or
					// multi-line value is several).
					var pieces []string
					if channel == "stderr" {
						e := encoded(t, control, name, form)
						pieces = strings.Split(strings.ReplaceAll(e, "\r\n", "\n"), "\n")
					} else {
						pieces = strings.Split(strings.ReplaceAll(shown, "\r\n", "\n"), "\n")
					}
					found := false
					for _, p := range pieces {
						if len(p) < 6 {
							continue
						}
						if !strings.Contains(shown, p) {
							t.Fatalf("control: the server did not print %q", p)
						}
						found = true
						got := rstderr
						if channel != "stderr" {
							got = printed(t, rw, channel) + rw
						}
						if strings.Contains(got, p) {
							t.Errorf("%q reached the client", p)
						}
					}
					if !found {
						t.Fatalf("control: nothing printed")
					}
					if channel != "stderr" && !strings.Contains(printed(t, rw, channel), "[REDACTED:") {
						t.Errorf("no marker in %q", printed(t, rw, channel))
					}
					for line := range strings.SplitSeq(strings.TrimSpace(rw), "\n") {
						if !json.Valid([]byte(line)) {
							t.Errorf("the client got invalid JSON: %q", line)
						}
					}
				})
			}
		}
	}
}

// encoded is the form of a variable as the server prints it, asked of the
// control server's result channel.
func encoded(t *testing.T, c *rawClient, name, form string) string {
	t.Helper()
	wire, _ := c.leak(name, form, "result")
	return printed(t, wire, "result")
}

// Redaction cannot be switched off from the client's side: whatever the
// client sends first (a blank line, a byte-order mark, a batch, a
// pretty-printed message, a ping), what the server prints is redacted.
func TestRedactionCannotBeTurnedOffByTheClient(t *testing.T) {
	const token = "tok-0123456789abcdef"
	for _, tt := range []struct{ name, first string }{
		{"blank line", "\n"},
		{"byte-order mark", "\xef\xbb\xbf"},
		{"batch", `[{"jsonrpc":"2.0","id":"b","method":"ping"}]` + "\n"},
		{"pretty-printed", "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": \"p\",\n  \"method\": \"ping\"\n}\n"},
		{"ping", `{"jsonrpc":"2.0","id":"p","method":"ping"}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "TOKEN="+token+"\n")
			c := w.raw([]string{"TOKEN=$<TOKEN>"}, nil, w.envserver)
			c.send(tt.first)
			c.initialize()
			wire, stderr := c.leak("TOKEN", "plain", "result")
			if strings.Contains(wire, token) || !strings.Contains(wire, "[REDACTED:TOKEN]") {
				t.Errorf("the client got %q", wire)
			}
			_, stderr = c.leak("TOKEN", "base64", "stderr")
			if strings.Contains(stderr, token) {
				t.Errorf("stderr: %q", stderr)
			}
		})
	}
}
