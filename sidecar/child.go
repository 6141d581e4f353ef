package sidecar

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/launch"
)

// eofGrace is how long a child has to end after its stdin closed before it
// gets the stop signal, as the TypeScript SDK's clients do.
const eofGrace = 2 * time.Second

// child is one server process as the sidecar talks to it: JSON-RPC
// messages through its supervisor's Conn, each scanned once on its way. The
// injector.Supervisor does the rest as in `run`: restart on rotation with the
// session replayed, draining, redaction.
type child struct {
	launch  launch.Launch // the one it started with
	conn    *injector.Conn
	updates chan launch.Launch // latest value only: see offer
	cancel  context.CancelFunc
	done    chan struct{} // closed when the supervisor has ended
	status  int           // valid after done
	err     error
}

// send hands one message to the child; it waits while the child does not
// read (or until ctx, the client's request, is done).
func (c *child) send(ctx context.Context, m injector.Message) error {
	return c.conn.Send(ctx, m)
}

// stop ends the child: EOF first (many servers end on it), then the stop
// signal, then SIGKILL after the stop timeout.
func (c *child) stop() {
	c.conn.Close()
	t := time.AfterFunc(eofGrace, c.cancel)
	go func() {
		<-c.done
		t.Stop()
	}()
}

// offer hands a launch to the supervisor, replacing one it has not taken
// yet: it only ever needs the newest, and the sender never waits.
func (c *child) offer(l launch.Launch) {
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
