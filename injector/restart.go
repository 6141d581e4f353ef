package injector

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/backoff"
	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
	"github.com/mcp-secrets/mcp-secrets/launch"
)

// Restarts: a new launch replaces the child that runs an older one. Without
// MCP the child is stopped, then started again. With MCP the new child
// starts beside the old one, gets the session's state replayed under the
// launcher's own request ids (their replies are swallowed), and only then
// receives client messages; those that arrive meanwhile wait. The old child
// answers what it already has and is then stopped; requests it can no longer
// answer get an error reply that says why. Whatever happens meanwhile
// (newer launches, a failed replay, a late retry), the loop converges on the
// newest launch.

// onUpdate makes launch the newest wanted one.
func (l *loop) onUpdate(next launch.Launch) {
	if l.st == stopping {
		return
	}
	l.want = next
	l.wantSeq++
	l.converge()
}

// converge replaces a child that does not run the newest wanted launch,
// unless a restart is under way: when it ends, it converges again.
func (l *loop) converge() {
	if l.st != running || l.cur.seq == l.wantSeq {
		return
	}
	if l.mode == undecided {
		l.decide(raw) // a restart before the client spoke: nothing to replay
	}
	if l.mode == mcp {
		if l.relay.next == nil {
			l.restartMCP()
		}
		return
	}
	// Without MCP there is no session to keep: stop, then start. The
	// client's bytes wait meanwhile.
	l.st = restarting
	l.barrier = newBarrier()
	l.dest.Store(l.barrier)
	l.s.Log.Info("restart begun", "pid", l.cur.c.pid(), "signal", l.s.Spec.StopSignal)
	l.cur.c.stop(l.s.Spec.StopSignal)
}

// retryLater tries a failed restart again after a growing pause (2s to a
// minute), unless a retry is already pending. It restarts with whatever is
// newest then.
func (l *loop) retryLater() {
	if l.retryT != nil {
		return
	}
	l.retry++
	var t *time.Timer
	t = l.after(l.s.retries().Delay(l.retry), func() {
		if l.retryT == t {
			l.retryT = nil
		}
		l.converge()
	})
	l.retryT = t
}

// retryPolicy is the pause before a failed restart is tried again.
var retryPolicy = backoff.Policy{First: 2 * time.Second, Max: time.Minute}

// retries is retryPolicy, or the tests' shorter one.
func (s *Supervisor) retries() backoff.Policy {
	if s.retryPolicy.First > 0 {
		return s.retryPolicy
	}
	return retryPolicy
}

// restartMCP brings up a new child, with the newest wanted launch, beside
// the current one.
func (l *loop) restartMCP() {
	s := l.relay
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
	s.started = started
	switch {
	case s.initialize != nil:
		l.ownRequest(p, s.initialize, "initialize")
	case s.discover != nil:
		l.ownRequest(p, s.discover, "server/discover")
	default:
		// Stateless requests (2026-07-28) without a discover: nothing to
		// replay but the open listens, and the lists the client saw, to
		// compare.
		l.replayStateless(p)
		if s.waiting == 0 {
			l.takeOver(p, started)
		}
	}
}

// replayStateless gives a new child the client's open subscriptions/listen
// streams, under the client's ids, and asks it for the lists the client saw.
func (l *loop) replayStateless(p *child) {
	s := l.relay
	for _, line := range s.listens {
		p.in.push(slices.Clone(line))
	}
	for _, method := range slices.Sorted(maps.Keys(s.lists)) {
		l.ownRequest(p, s.listLines[method], method)
	}
}

// ownRequest sends a request of the client's session to p under the
// launcher's own id.
func (l *loop) ownRequest(p *child, line []byte, method string) {
	s := l.relay
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
	s := l.relay
	if s.next != r.p {
		return // a restart given up on
	}
	s.waiting--
	if m.HasError && (r.method == "initialize" || r.method == "server/discover") {
		l.replayFailed(r.p, r.method+" was refused")
		return
	}
	if r.method == "server/discover" {
		l.replayStateless(r.p)
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
		l.replayStateless(r.p)
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
func (l *loop) takeOver(p *child, started time.Time) {
	s := l.relay
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
		l.listChanged(kind)
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
			if l.children[old.c] == old {
				l.failPending(old)
				l.finishDrain(old)
			}
		})
	}
	l.converge() // a newer launch came during the replay
}

// listChanged tells the client that a list changed. A stateless client
// (2026-07-28) gets it on each subscriptions/listen stream that asked for
// it, named by the stream's subscriptionId; a stateful one, or a stateless
// one with no such stream, as it is.
func (l *loop) listChanged(kind string) {
	s := l.relay
	method := "notifications/" + kind + "/list_changed"
	sent := false
	if s.initialize == nil {
		for _, id := range slices.Sorted(maps.Keys(s.listens)) {
			start, end, ok := jsonrpc.Find(s.listens[id], "params", "notifications", kind+"ListChanged")
			if ok && string(s.listens[id][start:end]) == "true" {
				l.say([]byte(`{"jsonrpc":"2.0","method":"` + method + `","params":{"_meta":{"` + SubscriptionKey + `":` + id + `}}}` + "\n"))
				sent = true
			}
		}
	}
	if !sent {
		l.say([]byte(`{"jsonrpc":"2.0","method":"` + method + `"}` + "\n"))
	}
}

// SubscriptionKey names, in a notification's _meta, the
// subscriptions/listen request it belongs to (2026-07-28).
const SubscriptionKey = "io.modelcontextprotocol/subscriptionId"

// finishDrain stops an old child whose requests are answered: its stdin
// closes first (many servers end on EOF), then the stop signal.
func (l *loop) finishDrain(p *child) {
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
func (l *loop) replayFailed(p *child, why string) {
	s := l.relay
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
