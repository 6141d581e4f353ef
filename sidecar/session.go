package sidecar

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
)

// A session is a stateful MCP session (protocol up to 2025-11-25): one
// child, started on the client's initialize, addressed by Mcp-Session-Id.
type session struct {
	id  string
	sub string // the user who opened it (OIDC): no one else reaches it
	t   *tenant
	b   *backend
	c   *child
	log *slog.Logger

	mu       sync.Mutex
	calls    map[string]*call // request id -> its call, until the reply
	progress map[string]*call // progress token -> the call it reports on
	streams  int              // POST streams numbered so far
	get      *call            // the GET stream's events
	getStop  chan struct{}    // closed when the open GET stream must end
	replied  []*call          // replies whose client left first: kept for a resumption
	detached int              // calls in flight whose client left
	active   int              // HTTP requests in progress
	used     time.Time        // when the last one ended
	idle     *time.Timer
	ended    bool
}

// Replies and calls kept for clients that lost their stream: enough for a
// reconnect, bounded however many a client abandons.
const (
	keptReplies  = 16
	keptDetached = 64
)

// sessionError is an error of the session limits; constants, so nothing is
// built at every start of the binary.
type sessionError string

func (e sessionError) Error() string { return string(e) }

const (
	errTooMany  sessionError = "too many sessions for this server, every one busy; retry later"
	errDraining sessionError = "the sidecar is shutting down"
)

// open starts a session of user sub and its child. At the cap the least
// recently used idle session is evicted; only when every session is busy
// is it refused.
func (b *backend) open(t *tenant, sub string) (*session, error) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return nil, errDraining
	}
	var evicted *session
	if len(b.sessions)+b.opening >= b.sc.opts.MaxSessions {
		if evicted = b.evictLocked(); evicted == nil {
			b.mu.Unlock()
			return nil, errTooMany
		}
	}
	b.opening++
	t.sessions++
	b.mu.Unlock()
	if evicted != nil {
		b.sc.opts.Metrics.evicted.WithLabelValues(b.name).Inc()
		evicted.finish("evicted: the least recently used idle session at --max-sessions")
	}
	// Active from the start: its initialize is in progress, and a session
	// that has answered nothing yet is never the one evicted.
	s := &session{id: rand.Text(), sub: sub, t: t, b: b, active: 1, calls: map[string]*call{}, progress: map[string]*call{}, getStop: make(chan struct{})}
	s.get = newCall(nil)
	s.get.limit = streamEvents
	s.log = b.sc.opts.Log.With("server", b.name, "session", s.id[:8])
	c, err := t.start("session", s.log, s.fromChild, nil)
	b.mu.Lock()
	b.opening--
	if err == nil && b.stopped {
		c.stop()
		err = errDraining
	}
	if err != nil {
		t.sessions--
		b.mu.Unlock()
		return nil, fmt.Errorf("starting a child: %w", err)
	}
	s.c = c
	if d := b.sc.opts.IdleTimeout; d > 0 {
		s.idle = time.AfterFunc(d, s.expire)
	}
	b.sessions[s.id] = s
	b.mu.Unlock()
	b.sc.opts.Metrics.sessions.WithLabelValues(b.name).Inc()
	b.sc.opts.Metrics.opened.WithLabelValues(b.name).Inc()
	go func() {
		<-c.done
		why := "the server exited"
		if c.err != nil {
			why = c.err.Error()
		}
		s.close(why)
	}()
	s.log.Info("session opened")
	return s, nil
}

// evictLocked ends the least recently used session with no request in
// progress, and returns it for finish; nil if every session is busy. A
// request that comes for it after gets 404, and its client initializes
// again. Called with b.mu held.
func (b *backend) evictLocked() *session {
	var lru *session
	var at time.Time
	for _, s := range b.sessions {
		s.mu.Lock()
		idle, used := s.active == 0 && !s.ended, s.used
		s.mu.Unlock()
		if idle && (lru == nil || used.Before(at)) {
			lru, at = s, used
		}
	}
	if lru == nil || !lru.end() {
		return nil
	}
	delete(b.sessions, lru.id)
	return lru
}

// enter and leave bracket each HTTP request: a session with none open for
// the idle timeout ends, and one with any open is never evicted.
func (s *session) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.active++
	if s.idle != nil {
		s.idle.Stop()
	}
	return true
}

func (s *session) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	s.used = time.Now()
	if s.active == 0 && s.idle != nil && !s.ended {
		s.idle.Reset(s.b.sc.opts.IdleTimeout)
	}
}

func (s *session) expire() {
	s.mu.Lock()
	busy := s.active > 0
	s.mu.Unlock()
	if !busy {
		s.close("idle for " + s.b.sc.opts.IdleTimeout.String())
	}
}

// close ends the session: the client's requests get an error reply, its
// stream ends, later requests get 404, and the child is stopped.
func (s *session) close(why string) {
	if s.end() {
		s.finish(why)
	}
}

// end marks the session ended, once: no request enters it after.
func (s *session) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.ended = true
	if s.idle != nil {
		s.idle.Stop()
	}
	return true
}

// finish does the rest of close, once end has marked the session.
func (s *session) finish(why string) {
	s.mu.Lock()
	calls := s.calls
	s.calls, s.progress, s.replied = nil, nil, nil
	close(s.getStop)
	s.mu.Unlock()
	b := s.b
	b.mu.Lock()
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
	}
	s.t.sessions--
	s.t.used.Store(time.Now().UnixNano())
	b.mu.Unlock()
	b.sc.opts.Metrics.sessions.WithLabelValues(b.name).Dec()
	for _, c := range calls {
		c.reply(jsonrpc.ErrorReply(c.id, goneCode, "mcp-secrets: the session ended ("+why+")"))
	}
	s.c.stop()
	s.log.Info("session closed", "reason", why)
}

// request sends a client request to the child and answers the POST with
// the child's messages for it: as an event stream when the client accepts
// one (each event with an id, so a client that loses the stream resumes
// it with a GET), else as JSON. For initialize, the reply carries the
// session id, or ends the session if the server refused.
func (s *session) request(w http.ResponseWriter, r *http.Request, m jsonrpc.Message, line []byte) {
	c := newCall(m.ID)
	key := jsonrpc.IDKey(m.ID)
	s.mu.Lock()
	switch {
	case s.ended:
		s.mu.Unlock()
		http.Error(w, "session not found", http.StatusNotFound)
		return
	case s.calls[key] != nil:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, m.ID, invalidRequest, "a request with this id is in flight")
		return
	}
	s.streams++
	c.stream = s.streams
	s.calls[key] = c
	if tok, ok := progressToken(line); ok {
		c.token = jsonrpc.IDKey(tok)
		s.progress[c.token] = c
	}
	s.mu.Unlock()
	if err := s.c.send(r.Context(), injector.Message{Line: line, Message: m}); err != nil {
		s.forget(key, c)
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	initialize := m.Method == "initialize"
	_, sseOK := accepts(r.Header.Values("Accept"))
	a := answer{
		// initialize's reply carries the session id, known to be good only
		// once the reply came: it is JSON.
		stream: sseOK && !initialize,
		ids:    true,
		prime:  r.Header.Get(versionHeader) >= "2025-11-25",
		final: func(reply []byte, h http.Header) int {
			if initialize && !replyFailed(reply) {
				h.Set(sessionHeader, s.id)
			}
			return http.StatusOK
		},
	}
	if !await(w, r, c, a) {
		s.detach(key, c)
		return
	}
	if initialize && replyFailed(c.last()) {
		s.close("initialize failed")
	}
}

// last is a finished call's reply.
func (c *call) last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events[len(c.events)-1]
}

func (s *session) forget(key string, c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls[key] == c {
		delete(s.calls, key)
	}
	if c.token != "" && s.progress[c.token] == c {
		delete(s.progress, c.token)
	}
}

// detach keeps a call whose client left before its reply was written, for
// a GET that resumes its stream: in flight (bounded; past the bound the
// oldest is forgotten), or replied.
func (s *session) detach(key string, c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	c.mu.Lock()
	done := c.done
	c.detached = !done
	c.mu.Unlock()
	if done {
		s.keepLocked(c)
		return
	}
	s.detached++
	if s.detached <= keptDetached {
		return
	}
	var oldest *call
	var oldestKey string
	for k, d := range s.calls {
		if d.detached && (oldest == nil || d.stream < oldest.stream) {
			oldest, oldestKey = d, k
		}
	}
	if oldest != nil {
		delete(s.calls, oldestKey)
		if oldest.token != "" && s.progress[oldest.token] == oldest {
			delete(s.progress, oldest.token)
		}
		s.detached--
	}
}

// keepLocked keeps a reply no client has yet, the newest keptReplies.
func (s *session) keepLocked(c *call) {
	s.replied = append(s.replied, c)
	if len(s.replied) > keptReplies {
		s.replied = s.replied[1:]
	}
}

// fromChild routes one message from the child: a reply to the call that
// waits for it, progress to the call it reports on, anything else to the
// GET stream.
func (s *session) fromChild(msg injector.Message) {
	m, line := msg.Message, msg.Line
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case m.IsResponse():
		key := jsonrpc.IDKey(m.ID)
		c := s.calls[key]
		if c == nil {
			return // the client gave up on it
		}
		delete(s.calls, key)
		if c.token != "" {
			delete(s.progress, c.token)
		}
		c.reply(line)
		c.mu.Lock()
		detached := c.detached
		c.mu.Unlock()
		if detached {
			s.detached--
			s.keepLocked(c)
		}
		return
	case m.Method == "notifications/progress":
		if start, end, ok := jsonrpc.Find(m.Params, "progressToken"); ok {
			if c := s.progress[jsonrpc.IDKey(m.Params[start:end])]; c != nil {
				c.note(line)
				return
			}
		}
	}
	if !s.ended {
		s.get.note(line) // kept (bounded) until a GET stream takes it
	}
}

// listen serves a GET: the session's stream of server requests and
// notifications (a new GET takes over from an open one), or, with a
// Last-Event-ID of a request's stream, the rest of that stream.
func (s *session) listen(w http.ResponseWriter, r *http.Request) {
	prime := r.Header.Get(versionHeader) >= "2025-11-25"
	stream, after, resume := parseEventID(r.Header.Get("Last-Event-ID"))
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		http.Error(w, "Not Found: the session ended", http.StatusNotFound)
		return
	}
	if resume && stream > 0 {
		c := s.resumable(stream)
		stop := s.getStop
		s.mu.Unlock()
		if c != nil {
			if await(w, r, c, answer{stream: true, ids: true, after: after, stop: stop}) {
				s.claimed(c)
			}
			return
		}
		// Not ours to resume (any more): the GET stream, as without the header.
		resume = false
		s.mu.Lock()
		if s.ended {
			s.mu.Unlock()
			http.Error(w, "Not Found: the session ended", http.StatusNotFound)
			return
		}
	}
	close(s.getStop) // the open GET stream, if any, ends: this one takes over
	s.getStop = make(chan struct{})
	stop := s.getStop
	s.mu.Unlock()
	if !resume {
		s.get.mu.Lock()
		after = s.get.sent
		s.get.mu.Unlock()
	}
	await(w, r, s.get, answer{stream: true, ids: true, prime: prime, after: after, stop: stop})
}

// resumable is the call of a request stream a client resumes. Called with
// s.mu held.
func (s *session) resumable(stream int) *call {
	for _, c := range s.calls {
		if c.stream == stream {
			return c
		}
	}
	for _, c := range s.replied {
		if c.stream == stream {
			return c
		}
	}
	return nil
}

// claimed forgets a kept reply a resumed stream delivered.
func (s *session) claimed(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.replied {
		if r == c {
			s.replied = append(s.replied[:i:i], s.replied[i+1:]...)
			return
		}
	}
}

// closeStream ends the GET stream, so a shutdown does not wait for it.
func (s *session) closeStream() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		close(s.getStop)
		s.getStop = make(chan struct{})
	}
}

// send passes a notification or a reply to a server request to the child.
func (s *session) send(ctx context.Context, m injector.Message) error { return s.c.send(ctx, m) }
