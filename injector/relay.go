package injector

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
)

// The MCP relay: every message between the client and the children, line
// by line. It records what a restarted server must be given again (see
// restart.go), sends each reply to the child that has the request, rewrites
// the ids of a later child's own requests, and redacts what goes to the
// client.

// RestartedCode is the JSON-RPC error code of a request that was in flight
// to a server stopped after a secret rotation: the client may retry it.
const RestartedCode = -32000

const (
	restartedMessage = "mcp-secrets: the server was restarted after a secret rotation; retry the request"
	queueMessages    = 1024     // client messages held during a restart
	queueBytes       = 16 << 20 // and their size
	defaultReady     = 30 * time.Second
)

// relay is the MCP relay's view of the client's session: what to replay, and
// where each message in flight goes.
type relay struct {
	// The session state a restarted server is given again.
	initialize  []byte // the client's initialize request
	initID      string
	initialized []byte // notifications/initialized
	discover    []byte // server/discover (2026-07-28: nothing else to replay)
	// Open subscriptions/listen streams (2026-07-28): client requests that
	// last the session; a new child gets them, under the client's ids.
	listens  map[string][]byte
	setLevel []byte // params of the last logging/setLevel
	subs     []string
	caps     [32]byte            // digest of the capabilities the client was given
	lists    map[string][32]byte // list method -> digest of the result the client saw
	listReqs map[string]string   // client request id -> list method, to record its result
	// list method -> the client's request for its first page, asked again
	// of a restarted server (a stateless one needs the request's _meta)
	listLines map[string][]byte

	pending map[string]*child    // client request id -> the child that has it
	fromSrv map[string]serverReq // id as the client saw it -> a child's request
	own     map[string]ownReq    // the launcher's request ids (replay)
	prefix  string               // of the launcher's ids: no client picks it
	n       int

	next    *child   // the child being brought up
	queue   [][]byte // client messages waiting for it
	queued  int      // their bytes
	changed []string // list_changed notifications owed to the client
	timer   *time.Timer
	waiting int // replay replies still to come
	started time.Time
}

type serverReq struct {
	p  *child
	id []byte // the id the child used
}

type ownReq struct {
	p      *child
	method string
}

func newRelay() *relay {
	b := make([]byte, 8)
	rand.Read(b)
	return &relay{
		lists:     map[string][32]byte{},
		listLines: map[string][]byte{},
		listens:   map[string][]byte{},
		listReqs:  map[string]string{},
		pending:   map[string]*child{},
		fromSrv:   map[string]serverReq{},
		own:       map[string]ownReq{},
		prefix:    "mcp-secrets-" + hex.EncodeToString(b) + "-",
	}
}

// opensMCP reports whether a client's first line opens a JSON-RPC session
// (MCP's stdio): a request or notification, or a batch whose first member
// is one. initialize or server/discover usually, but a ping may come first.
func opensMCP(line []byte) bool {
	line = bytes.TrimSpace(line)
	if len(line) > 0 && line[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(line, &batch) != nil || len(batch) == 0 {
			return false
		}
		line = batch[0]
	}
	m, err := jsonrpc.Scan(line)
	return err == nil && m.Method != ""
}

// clientLine routes one message from the client.
func (l *loop) clientLine(line []byte) {
	m, err := jsonrpc.Scan(line)
	l.clientMessage(line, m, err)
}

// clientMessage routes one message from the client, scanned (err: what the
// scan said).
func (l *loop) clientMessage(line []byte, m jsonrpc.Message, err error) {
	s := l.relay
	if err != nil {
		l.toCurrent(line, m, false) // the server answers what it cannot parse
		return
	}
	switch {
	case m.IsRequest():
		s.record(m, line)
		l.toCurrent(line, m, true)
	case m.IsNotification():
		switch m.Method {
		case "notifications/initialized":
			s.initialized = slices.Clone(line)
		case "notifications/cancelled":
			// To the child that has the request, old or new.
			var params struct {
				RequestID json.RawMessage `json:"requestId"`
			}
			if json.Unmarshal(m.Params, &params) == nil {
				if p := s.pending[jsonrpc.IDKey(params.RequestID)]; p != nil {
					p.in.push(line)
					return
				}
			}
		}
		l.toCurrent(line, m, false)
	case m.IsResponse():
		// A reply to a server's request goes to the child that asked, under
		// the id it used.
		if r, ok := s.fromSrv[jsonrpc.IDKey(m.ID)]; ok {
			delete(s.fromSrv, jsonrpc.IDKey(m.ID))
			r.p.in.push(jsonrpc.SpliceID(line, m, r.id))
			return
		}
		l.toCurrent(line, m, false)
	default:
		l.toCurrent(line, m, false)
	}
}

// record keeps what a restarted server must be given again.
func (s *relay) record(m jsonrpc.Message, line []byte) {
	switch m.Method {
	case "initialize":
		s.initialize, s.initID = slices.Clone(line), jsonrpc.IDKey(m.ID)
	case "server/discover":
		s.discover = slices.Clone(line)
	case "logging/setLevel":
		s.setLevel = slices.Clone(m.Params)
	case "resources/subscribe", "resources/unsubscribe":
		var params struct {
			URI string `json:"uri"`
		}
		if json.Unmarshal(m.Params, &params) != nil {
			return
		}
		s.subs = slices.DeleteFunc(s.subs, func(u string) bool { return u == params.URI })
		if m.Method == "resources/subscribe" {
			s.subs = append(s.subs, params.URI)
		}
	case "subscriptions/listen":
		s.listens[jsonrpc.IDKey(m.ID)] = slices.Clone(line)
	case "tools/list", "prompts/list", "resources/list":
		// The first page is what a restarted server's list is compared with.
		var params struct {
			Cursor string `json:"cursor"`
		}
		if m.Params != nil {
			_ = json.Unmarshal(m.Params, &params)
		}
		if params.Cursor == "" {
			s.listReqs[jsonrpc.IDKey(m.ID)] = m.Method
			s.listLines[m.Method] = slices.Clone(line)
		}
	}
}

// toCurrent sends a client message to the current child, or holds it while
// a new child is brought up.
func (l *loop) toCurrent(line []byte, m jsonrpc.Message, request bool) {
	s := l.relay
	if s.next != nil {
		if len(s.queue) >= queueMessages || s.queued+len(line) > queueBytes {
			l.s.Log.Warn("too many client messages during a restart; refusing one", "method", m.Method)
			if request {
				l.replyError(m.ID, "mcp-secrets: the server is restarting and too many requests are waiting; retry the request")
			}
			return
		}
		s.queue = append(s.queue, slices.Clone(line))
		s.queued += len(line)
		return
	}
	if request {
		s.pending[jsonrpc.IDKey(m.ID)] = l.cur
		l.cur.pending++
	}
	l.cur.in.push(slices.Clone(line))
}

// clientClosed passes the client's EOF on to the current child; a child
// being brought up gets it once it takes over.
func (l *loop) clientClosed() {
	if l.relay.next == nil {
		l.cur.in.close()
	}
}

// childBytes splits a child's stdout into messages.
func (l *loop) childBytes(p *child, data []byte) {
	p.out.feed(data, l.maxMessage(), func(line []byte) { l.childLine(p, line) }, func(head []byte) { l.childTooLong(p, head) })
}

// childTooLong drops a message longer than --max-message; a reply it was
// becomes an error reply, so the client does not wait for it forever.
func (l *loop) childTooLong(p *child, head []byte) {
	l.s.Log.Warn("dropped a message from the server longer than the limit", "limit", l.maxMessage())
	id := jsonrpc.LeadingID(head)
	if id == nil || l.relay.pending[jsonrpc.IDKey(id)] != p {
		return
	}
	delete(l.relay.pending, jsonrpc.IDKey(id))
	p.pending--
	l.say(append(jsonrpc.ErrorReply(id, tooLongCode, fmt.Sprintf("mcp-secrets: the server's reply is longer than %d bytes (--max-message) and was dropped", l.maxMessage())), '\n'))
	if p != l.cur && p != l.relay.next && p.pending == 0 {
		l.finishDrain(p) // its last answer, though dropped
	}
}

// clientTooLong refuses a message from the client longer than the limit.
func (l *loop) clientTooLong(head []byte) {
	l.s.Log.Warn("dropped a message from the client longer than the limit", "limit", l.maxMessage())
	if id := jsonrpc.LeadingID(head); id != nil {
		l.say(append(jsonrpc.ErrorReply(id, tooLongCode, fmt.Sprintf("mcp-secrets: the request is longer than %d bytes (--max-message) and was dropped", l.maxMessage())), '\n'))
	}
}

// tooLongCode is JSON-RPC's "invalid request".
const tooLongCode = -32600

// childLine routes one message from a child to the client, redacted.
func (l *loop) childLine(p *child, line []byte) {
	s := l.relay
	m, err := jsonrpc.Scan(line)
	if err != nil {
		l.toClient(line, m, false)
		return
	}
	switch {
	case m.IsResponse():
		id := jsonrpc.IDKey(m.ID)
		if r, ok := s.own[id]; ok {
			delete(s.own, id)
			l.replayReply(r, m)
			return
		}
		if owner := s.pending[id]; owner != nil && owner != p {
			return // a listen stream moved to a new child: the old one's end is not the client's
		}
		if s.pending[id] == p {
			delete(s.pending, id)
			delete(s.listens, id)
			p.pending--
			if method, ok := s.listReqs[id]; ok && m.Result != nil {
				s.lists[method] = sha256.Sum256(m.Result)
			}
			if id == s.initID && m.Result != nil {
				s.caps = capsDigest(m.Result)
			}
		}
		delete(s.listReqs, id)
		l.toClient(line, m, true)
		if p != l.cur && p != s.next && p.pending == 0 {
			l.finishDrain(p)
		}
	case m.IsRequest():
		// A server's request: a child after the first gets ids of its own
		// (JSON strings), so two children's ids never meet at the client.
		if p.gen > 0 {
			id := strconv.Quote(fmt.Sprintf("%sg%d-%s", s.prefix, p.gen, m.ID))
			s.fromSrv[id] = serverReq{p, slices.Clone(m.ID)}
			line = jsonrpc.SpliceID(line, m, []byte(id))
			m, _ = jsonrpc.Scan(line) // the id moved
		} else {
			s.fromSrv[jsonrpc.IDKey(m.ID)] = serverReq{p, slices.Clone(m.ID)}
		}
		l.toClient(line, m, true)
	default:
		l.toClient(line, m, true)
	}
}

// toClient writes a child's message to the client, redacted (as JSON, kept
// valid; a line that is not JSON as text). Most hold no secret and go as
// they are, uncopied. scanned says whether m is what Scan read of line.
func (l *loop) toClient(line []byte, m jsonrpc.Message, scanned bool) {
	if r := l.s.Redact.Load(); r.Contains(line) {
		line = r.JSON(make([]byte, 0, len(line)+64), line)
		if scanned {
			m, _ = jsonrpc.Scan(line) // its spans moved
		}
	}
	l.emit(line, m, scanned)
}

// emit hands a message to the client: on stdout, or to the Conn, which
// gets JSON-RPC messages only.
func (l *loop) emit(line []byte, m jsonrpc.Message, scanned bool) {
	c := l.s.Conn
	switch {
	case c == nil:
		l.out.push(line)
	case scanned:
		c.deliver(Message{Line: line, Message: m})
	default:
		l.s.Log.Debug("the server printed a line that is not JSON-RPC; dropped")
	}
}

// say sends the client a message in the launcher's own name.
func (l *loop) say(line []byte) {
	m, err := jsonrpc.Scan(line)
	l.emit(line, m, err == nil)
}

// replyError answers a client request in the launcher's name.
func (l *loop) replyError(id []byte, msg string) {
	l.say(append(jsonrpc.ErrorReply(id, RestartedCode, msg), '\n'))
}

// childGone cleans up after a child other than the current one ended.
func (l *loop) childGone(p *child) {
	if l.mode != mcp {
		return
	}
	if l.relay.next == p {
		l.replayFailed(p, "the new child exited")
	}
	l.failPending(p)
}

// failPending answers, in the launcher's name, the requests a child will
// never answer.
func (l *loop) failPending(p *child) {
	s := l.relay
	for id, q := range s.pending {
		if q == p {
			delete(s.pending, id)
			l.replyError([]byte(id), restartedMessage)
		}
	}
	p.pending = 0
	for id, r := range s.fromSrv {
		if r.p == p {
			delete(s.fromSrv, id)
		}
	}
}
