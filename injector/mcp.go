package injector

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
)

// Restarting an MCP server without breaking the client's session: the new
// child starts beside the old one, gets the session's state replayed under
// the launcher's own request ids (their replies are swallowed), and only
// then receives client messages; those that arrive meanwhile wait. The old
// child answers what it already has and is then stopped; requests it can no
// longer answer get an error reply that says why.

// RestartedCode is the JSON-RPC error code of a request that was in flight
// to a server stopped after a secret rotation: the client may retry it.
const RestartedCode = -32000

const (
	restartedMessage = "mcp-secrets: the server was restarted after a secret rotation; retry the request"
	queueMessages    = 1024     // client messages held during a restart
	queueBytes       = 16 << 20 // and their size
	defaultReady     = 30 * time.Second
)

// session is the MCP state of the client's session: what to replay, and
// where each message in flight goes.
type session struct {
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

	pending map[string]*proc     // client request id -> the child that has it
	fromSrv map[string]serverReq // id as the client saw it -> a child's request
	own     map[string]ownReq    // the launcher's request ids (replay)
	prefix  string               // of the launcher's ids: no client picks it
	n       int

	next    *proc    // the child being brought up
	queue   [][]byte // client messages waiting for it
	queued  int      // their bytes
	changed []string // list_changed notifications owed to the client
	timer   *time.Timer
	waiting int // replay replies still to come
	started time.Time
}

type serverReq struct {
	p  *proc
	id []byte // the id the child used
}

type ownReq struct {
	p      *proc
	method string
}

func newSession() *session {
	b := make([]byte, 8)
	rand.Read(b)
	return &session{
		lists:    map[string][32]byte{},
		listens:  map[string][]byte{},
		listReqs: map[string]string{},
		pending:  map[string]*proc{},
		fromSrv:  map[string]serverReq{},
		own:      map[string]ownReq{},
		prefix:   "mcp-secrets-" + hex.EncodeToString(b) + "-",
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
	s := l.sess
	m, err := jsonrpc.Scan(line)
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
func (s *session) record(m jsonrpc.Message, line []byte) {
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
		}
	}
}

// toCurrent sends a client message to the current child, or holds it while
// a new child is brought up.
func (l *loop) toCurrent(line []byte, m jsonrpc.Message, request bool) {
	s := l.sess
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
	if l.sess.next == nil {
		l.cur.in.close()
	}
}

// childBytes splits a child's stdout into messages.
func (l *loop) childBytes(p *proc, data []byte) {
	p.out.feed(data, l.maxMessage(), func(line []byte) { l.childLine(p, line) }, func(head []byte) { l.childTooLong(p, head) })
}

// childTooLong drops a message longer than --max-message; a reply it was
// becomes an error reply, so the client does not wait for it forever.
func (l *loop) childTooLong(p *proc, head []byte) {
	l.s.Log.Warn("dropped a message from the server longer than the limit", "limit", l.maxMessage())
	id := jsonrpc.LeadingID(head)
	if id == nil || l.sess.pending[jsonrpc.IDKey(id)] != p {
		return
	}
	delete(l.sess.pending, jsonrpc.IDKey(id))
	p.pending--
	l.out.push(append(jsonrpc.ErrorReply(id, tooLongCode, fmt.Sprintf("mcp-secrets: the server's reply is longer than %d bytes (--max-message) and was dropped", l.maxMessage())), '\n'))
	if p != l.cur && p != l.sess.next && p.pending == 0 {
		l.finishDrain(p) // its last answer, though dropped
	}
}

// clientTooLong refuses a message from the client longer than the limit.
func (l *loop) clientTooLong(head []byte) {
	l.s.Log.Warn("dropped a message from the client longer than the limit", "limit", l.maxMessage())
	if id := jsonrpc.LeadingID(head); id != nil {
		l.out.push(append(jsonrpc.ErrorReply(id, tooLongCode, fmt.Sprintf("mcp-secrets: the request is longer than %d bytes (--max-message) and was dropped", l.maxMessage())), '\n'))
	}
}

// tooLongCode is JSON-RPC's "invalid request".
const tooLongCode = -32600

// lines splits a stream into lines of at most max bytes. Lines that arrive
// whole are handed on where they are (a chunk's bytes are never written to
// again); the rest of a line waits in buf. A longer line is dropped up to
// its newline, and its first bytes go to tooLong.
type lines struct {
	buf  []byte
	skip bool // dropping the rest of a line too long
}

// tooLongHead is how much of a dropped line tooLong sees: enough for the
// members before a message's payload.
const tooLongHead = 64 << 10

func (b *lines) feed(data []byte, max int, line, tooLong func([]byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if b.skip {
			if i < 0 {
				return
			}
			b.skip = false
			data = data[i+1:]
			continue
		}
		n := len(b.buf) + i // the line's length without its newline
		if i < 0 {
			n = len(b.buf) + len(data)
		}
		if n > max {
			head := b.buf
			if len(head) == 0 {
				head = data
			}
			tooLong(head[:min(len(head), tooLongHead)])
			b.buf, b.skip = nil, i < 0
			if i < 0 {
				return
			}
			data = data[i+1:]
			continue
		}
		if i < 0 {
			b.buf = append(b.buf, data...)
			return
		}
		if len(b.buf) > 0 {
			l := append(b.buf, data[:i+1]...)
			b.buf = nil // the line is handed on: no reuse
			line(l)
		} else {
			line(data[:i+1])
		}
		data = data[i+1:]
	}
}

// flush hands on a last line that has no newline, unless it is blank.
func (b *lines) flush(line func([]byte)) {
	if !b.skip && len(bytes.TrimSpace(b.buf)) > 0 {
		line(append(b.buf, '\n'))
	}
	b.buf, b.skip = nil, false
}

// childLine routes one message from a child to the client, redacted.
func (l *loop) childLine(p *proc, line []byte) {
	s := l.sess
	m, err := jsonrpc.Scan(line)
	if err != nil {
		l.toClient(line)
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
		l.toClient(line)
		if p != l.cur && p != s.next && p.pending == 0 {
			l.finishDrain(p)
		}
	case m.IsRequest():
		// A server's request: a child after the first gets ids of its own
		// (JSON strings), so two children's ids never meet at the client.
		out := line
		if p.gen > 0 {
			id := strconv.Quote(fmt.Sprintf("%sg%d-%s", s.prefix, p.gen, m.ID))
			out = jsonrpc.SpliceID(line, m, []byte(id))
			s.fromSrv[id] = serverReq{p, slices.Clone(m.ID)}
		} else {
			s.fromSrv[jsonrpc.IDKey(m.ID)] = serverReq{p, slices.Clone(m.ID)}
		}
		l.toClient(out)
	default:
		l.toClient(line)
	}
}

// toClient writes a message to the launcher's stdout, redacted (as JSON,
// kept valid; a line that is not JSON as text). Most hold no secret and go
// as they are, uncopied.
func (l *loop) toClient(line []byte) {
	r := l.s.Redact.Load()
	if !r.Contains(line) {
		l.out.push(line)
		return
	}
	l.out.push(r.JSON(make([]byte, 0, len(line)+64), line))
}

// replyError answers a client request in the launcher's name.
func (l *loop) replyError(id []byte, msg string) {
	l.out.push(append(jsonrpc.ErrorReply(id, RestartedCode, msg), '\n'))
}

// restartMCP brings up a new child, with the newest wanted launch, beside
// the current one.
func (l *loop) restartMCP() {
	s := l.sess
	p, err := l.spawn()
	if err != nil {
		l.s.Log.Error("restart failed: the child cannot start; the old one keeps running", "err", err)
		l.retryLater()
		return
	}
	l.s.Log.Info("restart begun", "pid", p.c.pid(), "old_pid", l.cur.c.pid())
	s.next = p
	s.changed = nil
	s.waiting = 0
	ready := l.s.ReadyTimeout
	if ready == 0 {
		ready = defaultReady
	}
	started := time.Now()
	s.timer = l.after(ready, func() {
		if s.next == p {
			l.replayFailed(p, fmt.Sprintf("no answer to the replayed session within %v", ready))
		}
	})
	switch {
	case s.initialize != nil:
		l.ownRequest(p, s.initialize, "initialize")
	case s.discover != nil:
		l.ownRequest(p, s.discover, "server/discover")
	default:
		l.takeOver(p, started)
		return
	}
	s.started = started
}

// ownRequest sends a request of the client's session to p under the
// launcher's own id.
func (l *loop) ownRequest(p *proc, line []byte, method string) {
	s := l.sess
	s.n++
	id := strconv.Quote(fmt.Sprintf("%s%d", s.prefix, s.n))
	if line == nil {
		line = []byte(`{"jsonrpc":"2.0","id":0,"method":"` + method + `","params":{}}` + "\n")
	}
	m, err := jsonrpc.Scan(line)
	if err != nil {
		return
	}
	s.own[id] = ownReq{p, method}
	s.waiting++
	p.in.push(jsonrpc.SpliceID(line, m, []byte(id)))
}

// replayReply handles the reply to one replayed request.
func (l *loop) replayReply(r ownReq, m jsonrpc.Message) {
	s := l.sess
	if s.next != r.p {
		return // a restart given up on
	}
	s.waiting--
	if m.HasError && (r.method == "initialize" || r.method == "server/discover") {
		l.replayFailed(r.p, r.method+" was refused")
		return
	}
	if r.method == "initialize" || r.method == "server/discover" {
		for _, line := range s.listens {
			r.p.in.push(slices.Clone(line))
		}
	}
	switch r.method {
	case "initialize":
		if d := capsDigest(m.Result); d != s.caps {
			s.changed = append(s.changed, "tools", "prompts", "resources")
			s.caps = d
		}
		if s.initialized != nil {
			r.p.in.push(slices.Clone(s.initialized))
		}
		if s.setLevel != nil {
			l.ownRequest(r.p, []byte(`{"jsonrpc":"2.0","id":0,"method":"logging/setLevel","params":`+string(s.setLevel)+"}\n"), "logging/setLevel")
		}
		for _, uri := range s.subs {
			b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 0, "method": "resources/subscribe", "params": map[string]string{"uri": uri}})
			l.ownRequest(r.p, append(b, '\n'), "resources/subscribe")
		}
		for _, method := range slices.Sorted(maps.Keys(s.lists)) {
			l.ownRequest(r.p, nil, method)
		}
	case "tools/list", "prompts/list", "resources/list":
		if m.Result != nil && sha256.Sum256(m.Result) != s.lists[r.method] {
			s.lists[r.method] = sha256.Sum256(m.Result)
			s.changed = append(s.changed, r.method[:len(r.method)-len("/list")])
		}
	}
	if s.waiting == 0 {
		l.takeOver(r.p, s.started)
	}
}

// takeOver makes p the current child: the held client messages go to it,
// and the old child drains.
func (l *loop) takeOver(p *proc, started time.Time) {
	s := l.sess
	if s.timer != nil {
		s.timer.Stop()
	}
	old := l.cur
	l.setCur(p)
	s.next = nil
	l.retry = 0
	if l.retryT != nil {
		l.retryT.Stop()
		l.retryT = nil
	}
	for id := range s.listens {
		if s.pending[id] == old {
			s.pending[id] = p
			old.pending--
			p.pending++
		}
	}
	for _, kind := range dedupe(s.changed) {
		l.out.push([]byte(`{"jsonrpc":"2.0","method":"notifications/` + kind + `/list_changed"}` + "\n"))
	}
	queue := s.queue
	s.queue, s.queued = nil, 0
	for _, line := range queue {
		l.clientLine(line)
	}
	if l.eof {
		p.in.close()
	}
	l.s.Log.Info("restart finished", "pid", p.c.pid(), "took", time.Since(started).Round(time.Millisecond), "old_in_flight", old.pending)
	l.restarted()
	if old.pending == 0 {
		l.finishDrain(old)
	} else {
		old.drain = l.after(l.s.Spec.StopTimeout, func() {
			if l.procs[old.c] == old {
				l.failPending(old)
				l.finishDrain(old)
			}
		})
	}
	l.converge() // a newer launch came during the replay
}

// finishDrain stops an old child whose requests are answered: its stdin
// closes first (many servers end on EOF), then the stop signal.
func (l *loop) finishDrain(p *proc) {
	if p.stopped {
		return
	}
	p.stopped = true
	if p.drain != nil {
		p.drain.Stop()
	}
	p.in.close()
	p.c.stop(l.s.Spec.StopSignal)
}

// replayFailed gives up on a new child: the old one keeps serving with the
// values it has, and the restart is tried again later.
func (l *loop) replayFailed(p *proc, why string) {
	s := l.sess
	l.s.Log.Error("restart failed: the new child did not take over the session; the old one keeps running", "reason", why)
	s.next = nil
	p.in.close()
	p.c.stop(l.s.Spec.StopSignal)
	queue := s.queue
	s.queue, s.queued = nil, 0
	for _, line := range queue {
		l.clientLine(line)
	}
	if l.eof {
		l.cur.in.close()
	}
	if p.seq < l.wantSeq {
		l.converge() // a newer launch came during the replay: try it now
		return
	}
	l.retryLater()
}

// procGone cleans up after a child other than the current one ended.
func (l *loop) procGone(p *proc) {
	if l.mode != mcp {
		return
	}
	if l.sess.next == p {
		l.replayFailed(p, "the new child exited")
	}
	l.failPending(p)
}

// failPending answers, in the launcher's name, the requests a child will
// never answer.
func (l *loop) failPending(p *proc) {
	s := l.sess
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

// capsDigest digests the capabilities in an initialize result, whatever the
// order of their keys.
func capsDigest(result []byte) [32]byte {
	var r struct {
		Capabilities any `json:"capabilities"`
	}
	_ = json.Unmarshal(result, &r)
	b, _ := json.Marshal(r.Capabilities) // maps marshal with sorted keys
	return sha256.Sum256(b)
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
