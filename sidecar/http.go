package sidecar

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
)

// guard checks what every request to an MCP endpoint must pass: Origin and
// Host (DNS rebinding), the bearer token, the body size; and counts it.
func (s *Sidecar) guard(b *backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			s.opts.Metrics.requests.WithLabelValues(b.name, r.Method, strconv.Itoa(sw.code)).Inc()
		}()
		switch {
		case !s.originAllowed(r.Header.Get("Origin")):
			http.Error(sw, "Forbidden: origin not allowed", http.StatusForbidden)
		case !hostAllowed(r):
			http.Error(sw, "Forbidden: a loopback listener answers only loopback host names", http.StatusForbidden)
		case !s.authorized(r):
			sw.Header().Set("WWW-Authenticate", `Bearer realm="mcp-secrets"`)
			http.Error(sw, "Unauthorized", http.StatusUnauthorized)
		default:
			r.Body = http.MaxBytesReader(sw, r.Body, s.opts.MaxBodyBytes)
			b.ServeHTTP(sw, r)
		}
	})
}

// originAllowed: browsers send Origin; a page from anywhere but localhost
// (or an allowed origin) must not drive the servers. No Origin is a
// non-browser client.
func (s *Sidecar) originAllowed(origin string) bool {
	if origin == "" || slices.Contains(s.opts.AllowOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return isLoopback(u.Hostname())
}

// hostAllowed refuses a loopback connection that names another host: a DNS
// rebinding page.
func hostAllowed(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return true
	}
	host, _, err := net.SplitHostPort(local.String())
	if err != nil || !isLoopback(host) {
		return true
	}
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return isLoopback(strings.Trim(h, "[]"))
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Sidecar) authorized(r *http.Request) bool {
	if s.opts.AuthToken.Len() == 0 {
		return true
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1 && ok
}

// ServeHTTP is one server's endpoint.
func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		b.post(w, r)
	case http.MethodGet:
		b.get(w, r)
	case http.MethodDelete:
		b.delete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

func (b *backend) post(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	if jsonOK, sseOK := accepts(r.Header.Values("Accept")); !jsonOK || !sseOK {
		http.Error(w, "Accept must list application/json and text/event-stream", http.StatusNotAcceptable)
		return
	}
	version := r.Header.Get(versionHeader)
	if version != "" && !slices.Contains(knownVersions, version) {
		http.Error(w, "Bad Request: unsupported "+versionHeader+" "+version, http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "Bad Request: reading the body", http.StatusBadRequest)
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		http.Error(w, "Bad Request: JSON-RPC batches are not supported", http.StatusBadRequest)
		return
	}
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, nil, parseError, "Parse error")
		return
	}
	if bytes.ContainsAny(body, "\r\n") { // the child reads one message per line
		var b bytes.Buffer
		_ = json.Compact(&b, body)
		body = b.Bytes()
	}
	m, err := jsonrpc.Scan(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, nil, invalidRequest, "Invalid Request: not a JSON-RPC jsonrpc.Message")
		return
	}
	line := append(body, '\n')

	if id := r.Header.Get(sessionHeader); id != "" {
		s := b.session(id)
		if s == nil || !s.enter() {
			http.Error(w, "Not Found: no such session", http.StatusNotFound)
			return
		}
		defer s.leave()
		if m.IsRequest() {
			s.request(w, r, m, line)
		} else if s.send(r.Context(), injector.Message{Line: line, Message: m}) == nil {
			w.WriteHeader(http.StatusAccepted)
		} else {
			http.Error(w, "Not Found: the session ended", http.StatusNotFound)
		}
		return
	}
	meta := metaVersion(m)
	switch {
	case m.IsRequest() && m.Method == "initialize":
		b.initialize(w, r, m, line)
	case meta != "" || version >= statelessSince || m.Method == "server/discover":
		if !m.IsRequest() {
			w.WriteHeader(http.StatusAccepted) // nothing stateless to notify
			return
		}
		if code, msg := checkStateless(r.Header, m, meta); code != 0 {
			writeError(w, http.StatusBadRequest, m.ID, code, msg)
			return
		}
		b.pool.serve(w, r, m, line)
	default:
		http.Error(w, "Bad Request: no "+sessionHeader+" header (a session starts with initialize)", http.StatusBadRequest)
	}
}

// initialize opens a session for the client's initialize.
func (b *backend) initialize(w http.ResponseWriter, r *http.Request, m jsonrpc.Message, line []byte) {
	if b.sc.stopping.Load() {
		http.Error(w, "Service Unavailable: "+errDraining.Error(), http.StatusServiceUnavailable)
		return
	}
	s, err := b.open()
	if err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "Service Unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if !s.enter() {
		http.Error(w, "Service Unavailable: the server exited", http.StatusServiceUnavailable)
		return
	}
	defer s.leave()
	s.request(w, r, m, line)
}

func (b *backend) get(w http.ResponseWriter, r *http.Request) {
	if _, sseOK := accepts(r.Header.Values("Accept")); !sseOK {
		http.Error(w, "Accept must list text/event-stream", http.StatusNotAcceptable)
		return
	}
	id := r.Header.Get(sessionHeader)
	switch {
	case id == "":
		http.Error(w, "Bad Request: GET needs an "+sessionHeader+" header", http.StatusBadRequest)
		return
	case b.sc.stopping.Load():
		http.Error(w, "Service Unavailable: "+errDraining.Error(), http.StatusServiceUnavailable)
		return
	}
	s := b.session(id)
	if s == nil || !s.enter() {
		http.Error(w, "Not Found: no such session", http.StatusNotFound)
		return
	}
	defer s.leave()
	s.listen(w, r)
}

func (b *backend) delete(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(sessionHeader)
	if id == "" {
		http.Error(w, "Bad Request: DELETE needs an "+sessionHeader+" header", http.StatusBadRequest)
		return
	}
	s := b.session(id)
	if s == nil {
		http.Error(w, "Not Found: no such session", http.StatusNotFound)
		return
	}
	s.close("ended by the client")
	w.WriteHeader(http.StatusNoContent)
}

// metaVersion is the protocol version a request carries in its _meta
// (2026-07-28 and later), "" if none.
func metaVersion(m jsonrpc.Message) string {
	start, end, ok := jsonrpc.Find(m.Params, "_meta", versionMeta)
	if !ok {
		return ""
	}
	var v string
	_ = json.Unmarshal(m.Params[start:end], &v)
	return v
}

// checkStateless checks that a stateless request's headers say what its
// body does, as 2026-07-28 requires of every intermediary's input.
func checkStateless(h http.Header, m jsonrpc.Message, meta string) (int, string) {
	version := h.Get(versionHeader)
	switch {
	case version == "":
		return headerMismatch, versionHeader + " header is required for requests carrying " + versionMeta
	case meta == "":
		return invalidParams, "missing _meta " + versionMeta
	case version != meta:
		return headerMismatch, versionHeader + " header " + version + " does not match _meta " + meta
	case h.Get(methodHeader) != m.Method:
		return headerMismatch, methodHeader + " header does not match the method " + m.Method
	}
	key := ""
	switch m.Method {
	case "tools/call", "prompts/get":
		key = "name"
	case "resources/read":
		key = "uri"
	}
	if key != "" {
		var name string
		if start, end, ok := jsonrpc.Find(m.Params, key); ok {
			_ = json.Unmarshal(m.Params[start:end], &name)
		}
		if h.Get(nameHeader) != name || name == "" {
			return headerMismatch, nameHeader + " header does not match the request's " + key
		}
	}
	return 0, ""
}

// accepts reads Accept headers: may the reply be JSON, an event stream?
func accepts(values []string) (jsonOK, sseOK bool) {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				sseOK = true
			case "*/*":
				jsonOK, sseOK = true, true
			}
		}
	}
	return jsonOK, sseOK
}

// call is a client request waiting for the child's reply.
type call struct {
	id     []byte      // the client's id
	token  string      // its progress token: a key (session), raw JSON (pool)
	listen bool        // subscriptions/listen: a stream until the client leaves
	resp   chan []byte // the reply; never blocks its one sender
	notes  chan []byte // notifications for the request's stream; nil if none can come
}

func newCall(id []byte) *call {
	return &call{id: bytes.Clone(id), resp: make(chan []byte, 1)}
}

// streams makes room for notifications: a request with a progress token,
// or a subscriptions/listen, gets some.
func (c *call) streams() { c.notes = make(chan []byte, callNotes) }

// note queues a notification for the request's stream; a client that does
// not read loses some.
func (c *call) note(line []byte) {
	select {
	case c.notes <- line:
	default:
	}
}

// await answers a POST with a call's messages: the reply as
// application/json, unless the stream starts first (notifications came,
// or it is a subscriptions/listen), then as events. final sets the reply's
// headers and status. It returns the reply, nil if the client left first.
func await(w http.ResponseWriter, r *http.Request, c *call, stream bool, final func([]byte, http.Header) int) []byte {
	var sse *events
	if stream {
		sse = startEvents(w)
	}
	for {
		select {
		case line := <-c.notes:
			if sse == nil {
				sse = startEvents(w)
			}
			sse.event(line)
			sse.flush()
		case reply := <-c.resp:
			for len(c.notes) > 0 { // notifications sent before the reply come first
				if sse == nil {
					sse = startEvents(w)
				}
				sse.event(<-c.notes)
			}
			if sse != nil {
				sse.event(reply)
				sse.flush()
				return reply
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(final(reply, w.Header()))
			w.Write(reply)
			return reply
		case <-r.Context().Done():
			return nil
		}
	}
}

// events writes a text/event-stream.
type events struct{ w http.ResponseWriter }

func startEvents(w http.ResponseWriter) *events {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	return &events{w: w}
}

// event writes one message; the response writer buffers the pieces.
func (e *events) event(line []byte) {
	io.WriteString(e.w, "event: message\ndata: ")
	e.w.Write(line)
	io.WriteString(e.w, "\n\n")
}

func (e *events) flush() { http.NewResponseController(e.w).Flush() }

// replyFailed reports whether a reply is a JSON-RPC error.
func replyFailed(reply []byte) bool {
	m, err := jsonrpc.Scan(reply)
	return err == nil && m.HasError
}

// progressToken is the _meta.progressToken of a request, if it has one.
func progressToken(line []byte) ([]byte, bool) {
	start, end, ok := jsonrpc.Find(line, "params", "_meta", "progressToken")
	return line[start:end], ok
}

// writeError answers with a JSON-RPC error.
func writeError(w http.ResponseWriter, status int, id []byte, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(jsonrpc.ErrorReply(id, code, msg))
}

// statusWriter remembers the status, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
