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
	b   *backend
	c   *child
	log *slog.Logger

	mu       sync.Mutex
	calls    map[string]*call // request id -> the POST waiting for the reply
	progress map[string]*call // progress token -> the POST it reports on
	stream   *stream          // the client's GET stream, if open
	backlog  [][]byte         // messages for a GET stream not open yet
	active   int              // HTTP requests in progress
	idle     *time.Timer
	ended    bool
}

// stream is a GET stream: server requests and notifications.
type stream struct {
	events chan []byte
	done   chan struct{} // closed when the session ends or drops the stream
}

const (
	callNotes     = 64  // notifications held for one POST's stream
	streamEvents  = 256 // and for the GET stream
	backlogEvents = 64  // held until the client opens its GET stream
)

// sessionError is an error of the session limits; constants, so nothing is
// built at every start of the binary.
type sessionError string

func (e sessionError) Error() string { return string(e) }

const (
	errTooMany  sessionError = "too many sessions for this server; retry later"
	errDraining sessionError = "the sidecar is shutting down"
)

// open starts a session and its child.
func (b *backend) open() (*session, error) {
	b.mu.Lock()
	switch {
	case b.stopped:
		b.mu.Unlock()
		return nil, errDraining
	case len(b.sessions)+b.opening >= b.sc.opts.MaxSessions:
		b.mu.Unlock()
		return nil, errTooMany
	}
	b.opening++
	b.mu.Unlock()
	s := &session{id: rand.Text(), b: b, calls: map[string]*call{}, progress: map[string]*call{}}
	s.log = b.sc.opts.Log.With("server", b.name, "session", s.id[:8])
	c, err := b.start("session", s.log, s.fromChild, nil)
	b.mu.Lock()
	b.opening--
	if err == nil && b.stopped {
		c.stop()
		err = errDraining
	}
	if err != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("starting a child: %w", err)
	}
	s.c = c
	if t := b.sc.opts.IdleTimeout; t > 0 {
		s.idle = time.AfterFunc(t, s.expire)
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

// enter and leave bracket each HTTP request: a session with none open for
// the idle timeout ends.
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
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	calls := s.calls
	s.calls, s.progress, s.backlog = nil, nil, nil
	if s.stream != nil {
		close(s.stream.done)
		s.stream = nil
	}
	if s.idle != nil {
		s.idle.Stop()
	}
	s.mu.Unlock()
	s.b.mu.Lock()
	delete(s.b.sessions, s.id)
	s.b.mu.Unlock()
	s.b.sc.opts.Metrics.sessions.WithLabelValues(s.b.name).Dec()
	for _, c := range calls {
		c.resp <- jsonrpc.ErrorReply(c.id, goneCode, "mcp-secrets: the session ended ("+why+")")
	}
	s.c.stop()
	s.log.Info("session closed", "reason", why)
}

// request sends a client request to the child and answers the POST with
// the child's messages for it. For initialize, the reply carries the
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
	s.calls[key] = c
	if tok, ok := progressToken(line); ok {
		c.token = jsonrpc.IDKey(tok)
		c.streams()
		s.progress[c.token] = c
	}
	s.mu.Unlock()
	if err := s.c.send(r.Context(), injector.Message{Line: line, Message: m}); err != nil {
		s.forget(key, c)
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	initialize := m.Method == "initialize"
	reply := await(w, r, c, false, func(reply []byte, h http.Header) int {
		if initialize && !replyFailed(reply) {
			h.Set(sessionHeader, s.id)
		}
		return http.StatusOK
	})
	if reply == nil {
		s.forget(key, c)
	} else if initialize && replyFailed(reply) {
		s.close("initialize failed")
	}
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

// fromChild routes one message from the child: a reply to the POST that
// waits for it, progress to the POST it reports on, anything else to the
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
			return // the client went away
		}
		delete(s.calls, key)
		if c.token != "" {
			delete(s.progress, c.token)
		}
		c.resp <- line
		return
	case m.Method == "notifications/progress":
		if start, end, ok := jsonrpc.Find(m.Params, "progressToken"); ok {
			if c := s.progress[jsonrpc.IDKey(m.Params[start:end])]; c != nil {
				select {
				case c.notes <- line:
				default:
				}
				return
			}
		}
	}
	s.toStream(line)
}

// toStream sends a message to the GET stream, or keeps it (bounded) until
// the client opens one. A client that does not read loses messages, never
// the session.
func (s *session) toStream(line []byte) {
	if s.ended {
		return
	}
	if s.stream == nil {
		if len(s.backlog) < backlogEvents {
			s.backlog = append(s.backlog, line)
		}
		return
	}
	select {
	case s.stream.events <- line:
	default:
		s.log.Warn("the client does not read its stream; a jsonrpc.Message was dropped")
	}
}

// listen serves the GET stream until the client leaves or the session ends.
func (s *session) listen(w http.ResponseWriter, r *http.Request) {
	st := &stream{events: make(chan []byte, streamEvents), done: make(chan struct{})}
	s.mu.Lock()
	if s.stream != nil {
		s.mu.Unlock()
		http.Error(w, "this session already has a GET stream", http.StatusConflict)
		return
	}
	s.stream = st
	for _, line := range s.backlog {
		st.events <- line
	}
	s.backlog = nil
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.stream == st {
			s.stream = nil
		}
		s.mu.Unlock()
	}()
	sse := startEvents(w)
	for {
		select {
		case line := <-st.events:
			sse.event(line)
			for len(st.events) > 0 {
				sse.event(<-st.events)
			}
			sse.flush()
		case <-st.done:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// closeStream ends the GET stream, so a shutdown does not wait for it.
func (s *session) closeStream() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		close(s.stream.done)
		s.stream = nil
	}
}

// send passes a notification or a reply to a server request to the child.
func (s *session) send(ctx context.Context, m injector.Message) error { return s.c.send(ctx, m) }
