package sidecar

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
)

// eofGrace is how long a child has to end after its stdin closed before it
// gets the stop signal, as the TypeScript SDK's clients do.
const eofGrace = 2 * time.Second

// child is one server process as the sidecar talks to it: newline-delimited
// JSON-RPC into the supervisor's stdin, lines out of its stdout. Its
// injector.Supervisor does the rest as in `run`: restart on rotation with
// the session replayed, draining, redaction.
type child struct {
	launch  injector.Launch // the one it started with
	in      *os.File        // the supervisor's stdin, our end
	inMu    sync.Mutex
	closed  bool
	updates chan injector.Launch // latest value only: see offer
	cancel  context.CancelFunc
	done    chan struct{} // closed when the supervisor has ended
	status  int           // valid after done
	err     error
}

// start starts a child with the backend's newest launch. onLine gets each
// message it prints (redacted), restarted each launch it took over with.
func (b *backend) start(kind string, log *slog.Logger, onLine func([]byte), restarted func(injector.Launch)) (*child, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &child{in: inW, updates: make(chan injector.Launch, 1), cancel: cancel, done: make(chan struct{})}
	m := b.sc.opts.Metrics
	sup := &injector.Supervisor{
		Spec:       b.sc.opts.Spec,
		Stdin:      inR,
		Stdout:     &lineWriter{f: func(line []byte) { b.redactions(line); onLine(line) }},
		Stderr:     b.stderr,
		MCP:        injector.MCPOn,
		Redact:     b.sc.opts.Redact,
		Guard:      b.sc.opts.Guard,
		MaxMessage: b.sc.opts.MaxMessage,
		Log:        log,
		Restarted: func(l injector.Launch) {
			m.restarts.WithLabelValues(b.name, "rotation").Inc()
			if restarted != nil {
				restarted(l)
			}
		},
	}
	b.mu.Lock()
	c.launch = b.launch
	b.children[c] = struct{}{}
	b.running.Add(1)
	b.mu.Unlock()
	gauge := m.children.WithLabelValues(b.name, kind)
	gauge.Inc()
	go func() {
		defer b.running.Done()
		c.status, c.err = sup.Run(ctx, c.launch, c.updates, nil)
		inR.Close()
		c.closeInput()
		b.mu.Lock()
		delete(b.children, c)
		b.mu.Unlock()
		gauge.Dec()
		cancel()
		close(c.done)
	}()
	return c, nil
}

// send writes one message (a line) to the child.
func (c *child) send(line []byte) error {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	if c.closed {
		return os.ErrClosed
	}
	_, err := c.in.Write(line)
	return err
}

// closeInput is the client's EOF: the supervisor passes it on to the server.
func (c *child) closeInput() {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	if !c.closed {
		c.closed = true
		c.in.Close()
	}
}

// stop ends the child: EOF first (many servers end on it), then the stop
// signal, then SIGKILL after the stop timeout.
func (c *child) stop() {
	c.closeInput()
	t := time.AfterFunc(eofGrace, c.cancel)
	go func() {
		<-c.done
		t.Stop()
	}()
}

// offer hands a launch to the supervisor, replacing one it has not taken
// yet: it only ever needs the newest, and the sender never waits.
func (c *child) offer(l injector.Launch) {
	for {
		select {
		case c.updates <- l:
			return
		default:
		}
		select {
		case <-c.updates:
		default:
		}
	}
}

// lineWriter calls f with each line written to it, without the newline.
// The supervisor writes whole messages, so a line is rarely held back.
type lineWriter struct {
	buf []byte
	f   func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimSpace(w.buf[:i]); len(line) > 0 {
			w.f(bytes.Clone(line))
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}

// prefixWriter starts every line with a prefix (the server's name), so the
// sidecar's stderr tells its children apart. Writers sharing mu never
// interleave inside a line.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix []byte
	mid    bool // the last write ended inside a line
	out    []byte
	seen   func([]byte) // sees what passes
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.seen(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = p.out[:0]
	for rest := b; len(rest) > 0; {
		if !p.mid {
			p.out = append(p.out, p.prefix...)
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			p.out = append(p.out, rest...)
			p.mid = true
			break
		}
		p.out = append(p.out, rest[:i+1]...)
		rest = rest[i+1:]
		p.mid = false
	}
	if _, err := p.w.Write(p.out); err != nil {
		return 0, err
	}
	return len(b), nil
}
