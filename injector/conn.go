package injector

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
)

// Message is one JSON-RPC message, a line, and what jsonrpc.Scan read of it.
type Message struct {
	Line []byte // ends with a newline
	jsonrpc.Message
}

// Conn is the supervisor's client when it is not on stdio (the sidecar's
// sessions and pool children): the client's messages arrive scanned, and the
// children's messages for it are delivered scanned, so each message is
// scanned once on its way through. A Conn serves one Run.
type Conn struct {
	deliver func(Message)
	in      chan Message
	closed  chan struct{} // the client's end of input
	once    sync.Once
	ended   chan struct{} // Run has returned
	dest    atomic.Pointer[outQueue]
}

// ErrEnded is Send's error once the supervisor has ended, or after Close.
var ErrEnded = errors.New("the server has ended")

// NewConn returns a client whose messages from the children go to deliver.
// deliver is called on the supervisor's goroutine, redacted: it must not
// block. A line a child prints that is not JSON-RPC is not delivered.
func NewConn(deliver func(Message)) *Conn {
	return &Conn{deliver: deliver, in: make(chan Message), closed: make(chan struct{}), ended: make(chan struct{})}
}

// Send hands the children a message from the client. It waits while the
// child does not read its input (the bound on what the launcher holds for
// it), and fails once the supervisor has ended or the client closed.
func (c *Conn) Send(ctx context.Context, m Message) error {
	if q := c.dest.Load(); q != nil && !q.waitRoom(c.ended, ctx.Done()) {
		return errors.Join(ErrEnded, ctx.Err())
	}
	select {
	case c.in <- m:
		return nil
	case <-c.closed:
		return ErrEnded
	case <-c.ended:
		return ErrEnded
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close is the client's end of input: the child's stdin closes (many
// servers end on it).
func (c *Conn) Close() { c.once.Do(func() { close(c.closed) }) }
