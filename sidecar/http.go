package sidecar

import (
	"bytes"
	"context"
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
// Host (DNS rebinding), the bearer token (static, or a JWT of the OIDC
// issuer, whose sub the request then carries), the body size; and counts it.
func (s *Sidecar) guard(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			s.opts.Metrics.requests.WithLabelValues(name, r.Method, strconv.Itoa(sw.code)).Inc()
		}()
		switch {
		case !s.originAllowed(r.Header.Get("Origin")):
			http.Error(sw, "Forbidden: origin not allowed", http.StatusForbidden)
		case !hostAllowed(r):
			http.Error(sw, "Forbidden: a loopback listener answers only loopback host names", http.StatusForbidden)
		default:
			user, ok := s.authenticate(r)
			if !ok {
				s.unauthorized(sw, r, name)
				return
			}
			if s.opts.OIDC != nil {
				r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
			}
			r.Body = http.MaxBytesReader(sw, r.Body, s.opts.MaxBodyBytes)
			h.ServeHTTP(sw, r)
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

// authenticate checks the request's bearer token, and returns the user it
// names (OIDC's sub; "" otherwise).
func (s *Sidecar) authenticate(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case s.opts.OIDC != nil:
		if !ok {
			return "", false
		}
		sub, err := s.opts.OIDC.Verify(r.Context(), token)
		if err != nil {
			s.opts.Log.Debug("a bearer token was refused", "err", err)
			return "", false
		}
		return sub, true
	case s.opts.AuthToken.Len() > 0:
		got := sha256.Sum256([]byte(token))
		return "", subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1 && ok
	}
	return "", true
}

// unauthorized answers 401. Under OIDC it names the resource metadata
// (RFC 9728), which tells the client where to get a token.
func (s *Sidecar) unauthorized(w http.ResponseWriter, r *http.Request, name string) {
	challenge := `Bearer realm="mcp-secrets"`
	if s.opts.OIDC != nil {
		challenge = `Bearer resource_metadata="` + metadataURL(r, name) + `"`
		if r.Header.Get("Authorization") != "" {
			challenge += `, error="invalid_token"`
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	http.Error(w, "Unauthorized", http.StatusUnauthorized)
}

// userKey is the request context's key of the authenticated user's sub.
type userKey struct{}

func userOf(r *http.Request) string {
	sub, _ := r.Context().Value(userKey{}).(string)
	return sub
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
		s := b.session(id, r)
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
	meta := m.MetaVersion()
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
		t := b.tenantOf(w, r, m.ID)
		if t == nil {
			return
		}
		defer t.leave()
		b.poolOf(t).serve(w, r, m, line)
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
	t := b.tenantOf(w, r, m.ID)
	if t == nil {
		return
	}
	s, err := b.open(t, userOf(r))
	t.leave() // the session holds the tenant from now on
	if err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "Service Unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer s.leave()
	s.request(w, r, m, line)
}

// tenantOf is the tenant a request's user reaches, counted active until
// its leave; nil, with the answer written, if there is none. A sub that
// cannot go into a reference path is 403.
func (b *backend) tenantOf(w http.ResponseWriter, r *http.Request, id []byte) *tenant {
	user := userOf(r)
	if b.forUser != nil && !validSub(user) {
		http.Error(w, "Forbidden: the token's sub may hold only letters, digits, '.', '_', '@' and '-' (it names the user's secrets)", http.StatusForbidden)
		return nil
	}
	t, err := b.tenantFor(r.Context(), user)
	switch {
	case err == nil:
		return t
	case errors.Is(err, errNoValues), errors.Is(err, errBadSub):
		writeError(w, http.StatusForbidden, id, invalidRequest, "mcp-secrets: "+err.Error())
	case r.Context().Err() != nil:
	default:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "Service Unavailable: "+err.Error(), http.StatusServiceUnavailable)
	}
	return nil
}

// poolOf is a tenant's stateless pool: the shared one runs from the start,
// a user's starts on the user's first request.
func (b *backend) poolOf(t *tenant) *pool {
	if t == b.shared {
		return t.pool
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return t.poolLocked()
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
	s := b.session(id, r)
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
	s := b.session(id, r)
	if s == nil {
		http.Error(w, "Not Found: no such session", http.StatusNotFound)
		return
	}
	s.close("ended by the client")
	w.WriteHeader(http.StatusNoContent)
}

// checkStateless checks that a stateless request's headers say what its
// body does, as 2026-07-28 requires of every intermediary's input.
func checkStateless(h http.Header, m jsonrpc.Message, meta string) (int, string) {
	version := h.Get(versionHeader)
	switch {
	case version == "":
		return headerMismatch, versionHeader + " header is required for requests carrying " + jsonrpc.VersionMeta
	case meta == "":
		return invalidParams, "missing _meta " + jsonrpc.VersionMeta
	case version != meta:
		return headerMismatch, versionHeader + " header " + version + " does not match _meta " + meta
	case h.Get(methodHeader) != m.Method:
		return headerMismatch, methodHeader + " header does not match the method " + m.Method
	}
	if key, name, _ := m.MCPName(); key != "" {
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
