package sidecar

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/internal/backoff"
	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
	"github.com/mcp-secrets/mcp-secrets/launch"
)

// A pool serves stateless requests (protocol 2026-07-28): a few warm
// children of one server, any of them answering any request. Each request
// gets an id of the child's own, so clients' ids never meet on a shared
// child; progress tokens and subscriptions/listen ids likewise.
type pool struct {
	t       *tenant
	mu      sync.Mutex
	members []*member
	up      chan struct{} // closed and replaced when a member's child is up
	stop    chan struct{}
	once    sync.Once
}

// member is one child of the pool, restarted when it exits.
type member struct {
	p     *pool
	n     int
	c     *child // nil while it is down
	runs  int64  // the version of the launch its child runs, -1 if not the newest
	next  int64
	calls map[int64]*call
}

// A pool child that exits is started again after a pause doubling from
// 100 ms to 30 s, with the values already in memory: a crash loop never
// becomes a fetch loop against a provider.
var crashPolicy = backoff.Policy{First: 100 * time.Millisecond, Max: 30 * time.Second}

// A child that ran this long before exiting starts the doubling over.
const crashStable = time.Minute

func newPool(t *tenant, size int) *pool {
	p := &pool{t: t, up: make(chan struct{}), stop: make(chan struct{})}
	for i := range size {
		p.members = append(p.members, &member{p: p, n: i, calls: map[int64]*call{}})
	}
	return p
}

// start starts every member.
func (p *pool) start() {
	for _, m := range p.members {
		p.t.b.running.Go(m.run)
	}
}

// closeListens ends the subscriptions/listen streams, which would
// otherwise hold a shutdown.
func (p *pool) closeListens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.members {
		for n, c := range m.calls {
			if c.listen {
				delete(m.calls, n)
				c.reply(jsonrpc.ErrorReply(c.id, goneCode, "mcp-secrets: the sidecar is shutting down"))
			}
		}
	}
}

// shutdown stops the members; their children stop as sessions' do.
func (p *pool) shutdown() {
	p.once.Do(func() { close(p.stop) })
}

// run keeps the member's child running.
func (m *member) run() {
	t := m.p.t
	b := t.b
	log := b.sc.opts.Log.With("server", b.name, "pool", m.n)
	if t.sub != "" {
		log = log.With("sub", t.sub)
	}
	crashes := 0
	for {
		started := time.Now()
		c, err := t.start("pool", log, m.fromChild, m.restarted)
		if err != nil {
			log.Error("cannot start a pool child", "err", err)
		} else {
			v := t.versionOf(c.launch)
			m.p.mu.Lock()
			m.c, m.runs = c, v
			close(m.p.up)
			m.p.up = make(chan struct{})
			m.p.mu.Unlock()
			stopping := false
			select {
			case <-c.done:
			case <-m.p.stop:
				stopping = true
				c.stop()
				<-c.done
			}
			m.p.mu.Lock()
			m.c = nil
			calls := m.calls
			m.calls = map[int64]*call{}
			m.p.mu.Unlock()
			for _, call := range calls {
				call.reply(jsonrpc.ErrorReply(call.id, goneCode, "mcp-secrets: the server exited; retry the request"))
			}
			switch {
			case stopping:
				return
			case c.err != nil:
				log.Error("a pool child could not run", "err", c.err)
			default:
				log.Warn("a pool child exited", "status", c.status)
			}
		}
		if time.Since(started) > crashStable {
			crashes = 0
		}
		crashes++
		pause := crashPolicy.Delay(crashes)
		log.Info("starting the pool child again", "after", pause)
		select {
		case <-time.After(pause):
		case <-m.p.stop:
			return
		}
		b.sc.opts.Metrics.restarts.WithLabelValues(b.name, "crash").Inc()
	}
}

// restarted notes the launch a member's child took over with. Requests go
// to members that run the newest launch, so a client that saw a new value
// never sees the old one again from another member.
func (m *member) restarted(l launch.Launch) {
	v := m.p.t.versionOf(l)
	m.p.mu.Lock()
	m.runs = v
	m.p.mu.Unlock()
}

// pick chooses the member for a request: running, the newest values first,
// then the fewest requests in flight. Called with p.mu held.
func (p *pool) pick() *member {
	newest := p.t.version.Load()
	var best *member
	bestFresh := false
	for _, m := range p.members {
		fresh := m.runs == newest
		switch {
		case m.c == nil:
			continue
		case best == nil, fresh && !bestFresh:
		case fresh == bestFresh && len(m.calls) < len(best.calls):
		default:
			continue
		}
		best, bestFresh = m, fresh
	}
	return best
}

// memberWait bounds how long a request waits for a pool child to come up:
// a user's first request starts the user's pool.
const memberWait = 30 * time.Second

// serve sends a request to a member and answers with its reply: JSON,
// unless notifications come first (2026-07-28 maps some errors to HTTP
// statuses, known only once the reply is). A client that leaves first
// cancels the request on the child.
func (p *pool) serve(w http.ResponseWriter, r *http.Request, msg jsonrpc.Message, line []byte) {
	c := newCall(msg.ID)
	if msg.Method == "subscriptions/listen" {
		c.listen, c.params = true, bytes.Clone(msg.Params)
	}
	start, end, progress := jsonrpc.Find(line, "params", "_meta", "progressToken")
	p.mu.Lock()
	m := p.pick()
	if m == nil && len(p.members) > 0 {
		timeout := time.NewTimer(memberWait)
		defer timeout.Stop()
	wait:
		for m == nil {
			up := p.up
			p.mu.Unlock()
			select {
			case <-up:
			case <-timeout.C:
				p.mu.Lock()
				break wait
			case <-p.stop:
				p.mu.Lock()
				break wait
			case <-r.Context().Done():
				return
			}
			p.mu.Lock()
			m = p.pick()
		}
	}
	if m == nil {
		p.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, msg.ID, goneCode, "mcp-secrets: no server is running; retry the request")
		return
	}
	m.next++
	n := m.next
	m.calls[n] = c
	ch := m.c
	p.mu.Unlock()

	own := strconv.AppendInt(nil, n, 10)
	if progress {
		c.token = string(line[start:end])
		line = jsonrpc.Splice(line, start, end, own)
		msg, _ = jsonrpc.Scan(line) // the id moved
	}
	line = jsonrpc.Splice(line, msg.IDStart, msg.IDEnd, own)
	msg, _ = jsonrpc.Scan(line) // the pool's own id: the relay routes by it
	if err := ch.send(r.Context(), injector.Message{Line: line, Message: msg}); err != nil {
		m.forget(n)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, msg.ID, goneCode, "mcp-secrets: the server is restarting; retry the request")
		return
	}
	written := await(w, r, c, answer{stream: c.listen, final: func(reply []byte, _ http.Header) int {
		return statelessStatus(reply)
	}})
	if !written && m.forget(n) {
		cancel := []byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` + string(own) + "}}\n")
		msg, _ := jsonrpc.Scan(cancel)
		ctx, stop := context.WithTimeout(context.Background(), time.Second) // best effort: a child that reads nothing does not hold the handler
		_ = ch.send(ctx, injector.Message{Line: cancel, Message: msg})
		stop()
	}
}

// forget drops a call the client gave up on; it reports whether the call
// was still in flight.
func (m *member) forget(n int64) bool {
	m.p.mu.Lock()
	defer m.p.mu.Unlock()
	_, ok := m.calls[n]
	delete(m.calls, n)
	return ok
}

// fromChild routes one message from a member's child: replies, progress
// and subscription notifications to their request, under the client's
// ids; a list change to every subscriptions/listen of the pool that asked
// for it, whichever member has it (the member that saw the change may not
// be the one the stream is on).
func (m *member) fromChild(im injector.Message) {
	msg, line := im.Message, im.Line
	p := m.p
	switch {
	case msg.IsResponse():
		n, err := strconv.ParseInt(string(msg.ID), 10, 64)
		if err != nil {
			return
		}
		p.mu.Lock()
		c := m.calls[n]
		delete(m.calls, n)
		p.mu.Unlock()
		if c != nil {
			c.reply(jsonrpc.Splice(line, msg.IDStart, msg.IDEnd, c.id))
		}
	case msg.IsNotification():
		if kind, ok := listKind(msg.Method); ok {
			p.listChanged(msg.Method, kind)
			return
		}
		path := []string{"params", "_meta", injector.SubscriptionKey}
		if msg.Method == "notifications/progress" {
			path = []string{"params", "progressToken"}
		}
		if start, end, ok := jsonrpc.Find(line, path...); ok {
			n, err := strconv.ParseInt(string(line[start:end]), 10, 64)
			p.mu.Lock()
			c := m.calls[n]
			p.mu.Unlock()
			if err == nil && c != nil {
				theirs := c.id
				if !c.listen {
					theirs = []byte(c.token)
				}
				c.note(jsonrpc.Splice(line, start, end, theirs))
			}
			return
		}
	}
}

// listChanged sends a list change to every listen stream of the pool that
// asked for it, under the stream's subscriptionId.
func (p *pool) listChanged(method, kind string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.members {
		for _, c := range m.calls {
			if c.listen && c.wants(kind) {
				c.note([]byte(`{"jsonrpc":"2.0","method":"` + method + `","params":{"_meta":{"` + injector.SubscriptionKey + `":` + string(c.id) + `}}}` + "\n"))
			}
		}
	}
}

// listKind is the list a list_changed notification names: tools, prompts
// or resources.
func listKind(method string) (string, bool) {
	switch method {
	case "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed":
		kind, _, _ := strings.Cut(strings.TrimPrefix(method, "notifications/"), "/")
		return kind, true
	}
	return "", false
}

// statelessStatus is the HTTP status of a reply under protocol 2026-07-28,
// which maps some JSON-RPC errors to statuses.
func statelessStatus(reply []byte) int {
	if !replyFailed(reply) {
		return http.StatusOK
	}
	switch jsonrpc.ErrorCode(reply) {
	case methodNotFound:
		return http.StatusNotFound
	case invalidParams, unsupportedVersion, missingCapabilities:
		return http.StatusBadRequest
	}
	return http.StatusOK
}
