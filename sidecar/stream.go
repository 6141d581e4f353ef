package sidecar

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
)

// call is a client request and what the server sends for it:
// notifications, then the reply. Its events are numbered from 1 and the
// newest are kept, so a stream the client lost before the reply can be
// resumed (Last-Event-ID) and the reply still reaches it. A session's GET
// stream is a call that never ends.
type call struct {
	id     []byte // the client's id
	token  string // its progress token: a key (session), raw JSON (pool)
	listen bool   // subscriptions/listen: a stream until the client leaves
	params []byte // a listen's params: which notifications it asked for
	stream int    // the session's number of the call's stream, for event ids
	limit  int    // events kept

	mu       sync.Mutex
	events   [][]byte // events[i] is number first+i+1
	first    int
	sent     int           // the newest event written to a client
	done     bool          // the last event is the reply
	changed  chan struct{} // closed and replaced when an event is added
	detached bool          // the client left before the reply (a session's call)
}

const (
	callNotes    = 64  // notifications kept for one request's stream
	streamEvents = 256 // and for a session's GET stream
)

func newCall(id []byte) *call {
	return &call{id: bytes.Clone(id), limit: callNotes + 1, changed: make(chan struct{})}
}

// note adds a notification; past the limit the oldest is dropped (a client
// that does not read loses some, never the reply).
func (c *call) note(line []byte) { c.add(line, false) }

// reply adds the reply, the last event.
func (c *call) reply(line []byte) { c.add(line, true) }

func (c *call) add(line []byte, reply bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	if len(c.events) >= c.limit {
		c.events = c.events[1:]
		c.first++
	}
	c.events = append(c.events, line)
	c.done = reply
	close(c.changed)
	c.changed = make(chan struct{})
}

// since returns the events after number n, the number of the first of
// them, whether the reply is among them, and what closes when more come.
func (c *call) since(n int) (evs [][]byte, first int, done bool, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := max(0, n-c.first)
	if i < len(c.events) {
		evs = c.events[i:len(c.events):len(c.events)]
	}
	return evs, c.first + i + 1, c.done, c.changed
}

// wrote records that events up to n reached a client.
func (c *call) wrote(n int) {
	c.mu.Lock()
	c.sent = max(c.sent, n)
	c.mu.Unlock()
}

// answer says how await writes a call's events.
type answer struct {
	stream bool // as an event stream from the start; else a JSON reply unless notifications come first
	ids    bool // events carry ids, STREAM-N: the stream can be resumed
	prime  bool // open with an event of an id and no data (SEP-1699): resumable before the first event
	after  int  // the events up to this number reached the client already (Last-Event-ID)
	// final is a JSON reply's status, and sets its headers.
	final func(reply []byte, h http.Header) int
	stop  <-chan struct{} // ends the stream (shutdown, or a newer GET stream)
}

// await answers with a call's events until the reply, which it reports
// whether it wrote; it ends early when the client leaves or a.stop closes.
func await(w http.ResponseWriter, r *http.Request, c *call, a answer) bool {
	var sse *events
	sent := a.after
	if a.stream {
		sse = startEvents(w)
		if a.prime {
			sse.event(c.eventID(sent), nil)
		}
		sse.flush()
	}
	for {
		evs, first, done, changed := c.since(sent)
		if sse == nil && done && len(evs) == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.final(evs[0], w.Header()))
			w.Write(evs[0])
			c.wrote(first)
			return true
		}
		if len(evs) > 0 {
			if sse == nil {
				sse = startEvents(w)
			}
			for i, line := range evs {
				id := ""
				if a.ids {
					id = c.eventID(first + i)
				}
				sse.event(id, line)
			}
			sent = first + len(evs) - 1
			if sse.flush() != nil {
				return false
			}
			c.wrote(sent)
		}
		if done {
			return true
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return false
		case <-a.stop:
			return false
		}
	}
}

// wants reports whether a listen asked for a kind's list changes.
func (c *call) wants(kind string) bool {
	start, end, ok := jsonrpc.Find(c.params, "notifications", kind+"ListChanged")
	return ok && string(c.params[start:end]) == "true"
}

// eventID names event n of the call's stream.
func (c *call) eventID(n int) string {
	return strconv.Itoa(c.stream) + "-" + strconv.Itoa(n)
}

// parseEventID reads a Last-Event-ID of ours: the stream and the event.
func parseEventID(id string) (stream, n int, ok bool) {
	s, e, found := bytes.Cut([]byte(id), []byte("-"))
	if !found {
		return 0, 0, false
	}
	stream, err1 := strconv.Atoi(string(s))
	n, err2 := strconv.Atoi(string(e))
	return stream, n, err1 == nil && err2 == nil && stream >= 0 && n >= 0
}

// events writes a text/event-stream.
type events struct{ w http.ResponseWriter }

func startEvents(w http.ResponseWriter) *events {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(http.StatusOK)
	return &events{w: w}
}

// event writes one message (none: a priming event); the response writer
// buffers the pieces.
func (e *events) event(id string, line []byte) {
	if id != "" {
		io.WriteString(e.w, "id: "+id+"\n")
	}
	if line == nil {
		io.WriteString(e.w, "data: \n\n")
		return
	}
	io.WriteString(e.w, "event: message\ndata: ")
	e.w.Write(bytes.TrimSuffix(line, []byte("\n")))
	io.WriteString(e.w, "\n\n")
}

func (e *events) flush() error { return http.NewResponseController(e.w).Flush() }
