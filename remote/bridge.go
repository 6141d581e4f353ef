package remote

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/backoff"
	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

// Bridge relays an MCP client on stdio to a remote server over Streamable
// HTTP, both protocol generations as the remote speaks them. Each client
// message is a POST; what the remote answers (a JSON reply, or an event
// stream of its requests and notifications ending with the reply) goes to
// the client one line per message, redacted. The bridge keeps what a stdio
// client cannot: the remote's session id (and a new session when the
// remote has ended it), the negotiated protocol version, the GET stream of
// the remote's own messages, and the headers protocol 2026-07-28 wants
// beside each request.
type Bridge struct {
	Transport  *Transport
	Redact     *redact.Set // nil: nothing is redacted
	MaxMessage int         // longest message either way, in bytes
	Log        *slog.Logger
}

// MCP facts.
const (
	sessionHeader  = "Mcp-Session-Id"
	versionHeader  = "Mcp-Protocol-Version"
	methodHeader   = "Mcp-Method"
	nameHeader     = "Mcp-Name"
	paramPrefix    = "Mcp-Param-"
	statelessSince = "2026-07-28" // per-request _meta, no sessions, no GET stream

	parseError     = -32700
	invalidRequest = -32600
	bridgeError    = -32000 // the remote could not be asked: the request may be retried
)

const (
	// maxInFlight bounds the client's requests waiting for the remote: past
	// it, the bridge stops reading the client.
	maxInFlight = 64
	// drainGrace is how long requests in flight get to finish after the
	// client closed stdin (the Go SDK waits 5s before a signal).
	drainGrace = 5 * time.Second
	// ownTimeout bounds a notification, a reply and the last DELETE: each
	// is answered at once (202).
	ownTimeout = 30 * time.Second
)

// Run relays until in ends (the client closed stdin; requests in flight
// get drainGrace to finish) or ctx is done, then ends the remote session.
func (b *Bridge) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	s := &session{
		Bridge: b,
		client: &http.Client{Transport: b.Transport},
		out:    clientOut{w: out, set: b.Redact},
		calls:  map[string]*call{},
		tools:  map[string][]paramBinding{},
		sem:    make(chan struct{}, maxInFlight),
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan error, 1)
	go func() {
		read <- readLines(in, b.MaxMessage, func(line []byte) { s.fromClient(ctx, line) }, s.clientTooLong)
	}()
	s.ctx = ctx
	var err error
	select {
	case err = <-read:
		done := make(chan struct{})
		go func() { s.inFlight.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(drainGrace):
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	cancel()
	s.inFlight.Wait()
	s.background.Wait()
	s.end()
	return err
}

// session is the state of one client's session with the remote.
type session struct {
	*Bridge
	ctx        context.Context // the session's: ends the GET stream
	client     *http.Client
	out        clientOut
	sem        chan struct{}
	inFlight   sync.WaitGroup // the client's requests
	background sync.WaitGroup // the GET stream
	own        atomic.Int64   // ids of the bridge's own requests

	mu        sync.Mutex
	sessionID string
	version   string // the protocol version in effect
	gen       int    // one more per new session
	initLine  []byte // the client's initialize, for a new session
	notified  []byte // its notifications/initialized
	calls     map[string]*call
	tools     map[string][]paramBinding // x-mcp-header bindings, by tool
	listen    context.CancelFunc        // ends the GET stream

	renewMu sync.Mutex // one new session at a time
}

// call is a client request waiting for the remote.
type call struct {
	method string
	cancel context.CancelFunc
}

// fromClient handles one line from the client.
func (s *session) fromClient(ctx context.Context, line []byte) {
	line = bytes.TrimSpace(line)
	switch {
	case len(line) == 0:
		return
	case line[0] == '[':
		s.replyError(nil, invalidRequest, "mcp-secrets: JSON-RPC batches are not supported")
		return
	case !json.Valid(line):
		s.replyError(nil, parseError, "mcp-secrets: the message is not JSON")
		return
	}
	m, err := jsonrpc.Scan(line)
	switch {
	case err != nil || !m.IsRequest() && !m.IsNotification() && !m.IsResponse():
		s.replyError(m.ID, invalidRequest, "mcp-secrets: not a JSON-RPC request, notification or response")
	case m.IsRequest():
		line = bytes.Clone(line)
		m, _ = jsonrpc.Scan(line)
		s.mu.Lock()
		if m.Method == "initialize" {
			// The version is negotiated anew: one a server/discover tried
			// before (2026-07-28) must not go with it.
			s.initLine, s.version = line, ""
		}
		if v := m.MetaVersion(); v != "" {
			s.version = v
		}
		s.mu.Unlock()
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		s.inFlight.Go(func() {
			defer func() { <-s.sem }()
			s.call(ctx, line, m)
		})
	default:
		if m.Method == "notifications/initialized" {
			s.mu.Lock()
			s.notified = bytes.Clone(line)
			s.mu.Unlock()
		}
		s.post(ctx, line, m)
		if m.Method == "notifications/cancelled" {
			s.cancelCall(m)
		}
	}
}

// call relays one client request and its reply; a request the remote
// could not answer gets an error reply of the bridge's own.
func (s *session) call(ctx context.Context, line []byte, m jsonrpc.Message) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	key := jsonrpc.IDKey(m.ID)
	s.mu.Lock()
	s.calls[key] = &call{method: m.Method, cancel: cancel}
	gen := s.gen
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.calls, key)
		s.mu.Unlock()
	}()
	err := s.exchange(ctx, line, m, s.toClient)
	if errors.Is(err, errSessionGone) {
		if err = s.renew(ctx, gen); err == nil {
			err = s.exchange(ctx, line, m, s.toClient)
		}
	}
	var re *replyError
	switch {
	case err == nil || ctx.Err() != nil: // answered, or cancelled: no reply is wanted
	case errors.As(err, &re):
		s.out.send(re.reply)
	default:
		s.Log.Warn("a request to the remote server failed", "method", m.Method, "err", err)
		s.replyError(m.ID, bridgeError, "mcp-secrets: "+err.Error())
	}
}

// errSessionGone is a 404 for a request that carried a session id: the
// remote ended the session (it restarted, or the session timed out).
var errSessionGone = errors.New("the remote server ended the session")

// replyError is the remote's own JSON-RPC error reply to a refused request.
type replyError struct{ reply []byte }

func (e *replyError) Error() string { return string(e.reply) }

// exchange POSTs one request and relays what the remote answers: its
// messages go to the client, the reply to m goes to reply. It returns once
// the reply came, or with why it did not.
func (s *session) exchange(ctx context.Context, line []byte, m jsonrpc.Message, reply func([]byte, jsonrpc.Message)) error {
	resp, sid, err := s.do(ctx, http.MethodPost, line, m, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && sid != "" {
		return errSessionGone
	}
	if err := s.refused(resp, m); err != nil {
		return err
	}
	switch mediaType(resp) {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.MaxMessage)+1))
		if err != nil {
			return fmt.Errorf("reading the reply: %w", err)
		}
		if len(body) > s.MaxMessage {
			return s.tooLong(m.ID)
		}
		if !s.fromRemote(body, m, reply) {
			return errors.New("the remote server answered with something else than the reply")
		}
		return nil
	case "text/event-stream":
		return s.stream(ctx, resp.Body, m, reply)
	}
	return fmt.Errorf("the remote server answered %s without a reply", resp.Status)
}

// stream relays an event stream that ends with the reply to m, resuming it
// (Last-Event-ID) if it breaks off before.
func (s *session) stream(ctx context.Context, body io.ReadCloser, m jsonrpc.Message, reply func([]byte, jsonrpc.Message)) error {
	last := ""
	for attempt := 0; ; attempt++ {
		done, progress, wait := s.relay(body, &last, m, reply)
		body.Close()
		switch {
		case done:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case last == "":
			return errors.New("the remote server ended the stream without a reply")
		case progress:
			attempt = 0
		case attempt >= 3:
			return errors.New("the remote server's stream broke off without a reply, and resuming it failed")
		}
		if !backoff.Sleep(ctx, max(wait, time.Duration(attempt)*time.Second)) {
			return ctx.Err()
		}
		resp, _, err := s.do(ctx, http.MethodGet, nil, jsonrpc.Message{}, last)
		if err != nil {
			return err
		}
		if err := s.refused(resp, m); err != nil {
			resp.Body.Close()
			return err
		}
		body = resp.Body
	}
}

// relay passes the events of one stream on until the reply to m (done), or
// the stream's end; last is the id to resume from, wait the delay the
// server asked for.
func (s *session) relay(body io.Reader, last *string, m jsonrpc.Message, reply func([]byte, jsonrpc.Message)) (done, progress bool, wait time.Duration) {
	er := newEventReader(body, s.MaxMessage)
	for {
		ev, err := er.next()
		if err != nil {
			return false, progress, wait
		}
		if ev.id != "" {
			*last, progress = ev.id, true
		}
		wait = cmp.Or(ev.retry, wait)
		if ev.name != "" && ev.name != "message" || len(ev.data) == 0 {
			continue
		}
		if ev.tooLong {
			s.Log.Warn("dropped a message from the remote server longer than the limit", "limit", s.MaxMessage)
			if id := jsonrpc.LeadingID(ev.data); m.ID != nil && id != nil && jsonrpc.IDKey(id) == jsonrpc.IDKey(m.ID) {
				reply(s.tooLong(m.ID).reply, m)
				return true, progress, wait
			}
			continue
		}
		if got := s.fromRemote(ev.data, m, reply); got {
			return true, progress, wait
		}
	}
}

// fromRemote passes one message from the remote on: the reply to m to
// reply, anything else to the client. It reports whether it was the reply.
func (s *session) fromRemote(msg []byte, m jsonrpc.Message, reply func([]byte, jsonrpc.Message)) bool {
	if bytes.ContainsAny(msg, "\r\n") { // the client reads one message per line
		var b bytes.Buffer
		if json.Compact(&b, msg) != nil {
			s.Log.Warn("dropped a message from the remote server that is not JSON")
			return false
		}
		msg = b.Bytes()
	}
	mm, err := jsonrpc.Scan(msg)
	if err == nil && mm.IsResponse() && m.ID != nil && jsonrpc.IDKey(mm.ID) == jsonrpc.IDKey(m.ID) {
		reply(msg, mm)
		return true
	}
	s.out.send(msg)
	return false
}

// toClient is the reply to a client request: what the bridge learns from
// it first, then to the client.
func (s *session) toClient(msg []byte, mm jsonrpc.Message) {
	if mm.Result != nil {
		s.mu.Lock()
		method := ""
		if c := s.calls[jsonrpc.IDKey(mm.ID)]; c != nil {
			method = c.method
		}
		s.mu.Unlock()
		switch method {
		case "initialize":
			s.initialized(mm.Result)
		case "tools/list":
			s.learnTools(mm.Result)
		}
	}
	s.out.send(msg)
}

// initialized takes the protocol version of an initialize result, and opens
// the GET stream of the remote's own messages where the version has one.
func (s *session) initialized(result []byte) {
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(result, &r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = r.ProtocolVersion
	if s.listen != nil || r.ProtocolVersion == "" || r.ProtocolVersion >= statelessSince {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.listen = cancel
	s.background.Go(func() { s.listenGET(ctx) })
}

// listenGET relays the GET stream, the remote's requests and notifications
// outside any request, reconnecting (Last-Event-ID) when it breaks. A
// remote that offers none (405) or keeps failing is left alone: the
// replies to requests do not depend on it.
func (s *session) listenGET(ctx context.Context) {
	last := ""
	delay := time.Second
	for fails := 0; fails < 5; {
		resp, _, err := s.do(ctx, http.MethodGet, nil, jsonrpc.Message{}, last)
		switch {
		case ctx.Err() != nil:
			if resp != nil {
				resp.Body.Close()
			}
			return
		case err != nil:
			fails++
		case resp.StatusCode >= 400 && resp.StatusCode < 500 || resp.StatusCode < 300 && mediaType(resp) != "text/event-stream":
			resp.Body.Close()
			s.Log.Debug("the remote server offers no GET stream", "status", resp.StatusCode)
			return
		case resp.StatusCode >= 300:
			resp.Body.Close()
			fails++
		default:
			_, progress, wait := s.relay(resp.Body, &last, jsonrpc.Message{}, nil)
			resp.Body.Close()
			if progress {
				fails, delay = 0, time.Second
			}
			delay = max(delay, wait)
		}
		if !backoff.Sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, 30*time.Second)
	}
	s.Log.Warn("the remote server's GET stream keeps failing; its notifications outside requests are lost")
}

// renew starts a new session after the remote ended the one of gen: the
// client's initialize again, under an id of the bridge's own (its reply is
// not the client's), then its notifications/initialized. The client's
// session goes on.
func (s *session) renew(ctx context.Context, gen int) error {
	s.renewMu.Lock()
	defer s.renewMu.Unlock()
	s.mu.Lock()
	if s.gen != gen {
		s.mu.Unlock()
		return nil // another request renewed it
	}
	init, notified := s.initLine, s.notified
	s.sessionID = ""
	if s.listen != nil {
		s.listen()
		s.listen = nil
	}
	s.mu.Unlock()
	if init == nil {
		return errSessionGone
	}
	s.Log.Info("the remote server ended the session; starting a new one")
	m, _ := jsonrpc.Scan(init)
	id := strconv.Quote("mcp-secrets-" + strconv.FormatInt(s.own.Add(1), 10))
	line := jsonrpc.SpliceID(init, m, []byte(id))
	m, _ = jsonrpc.Scan(line)
	var result []byte
	err := s.exchange(ctx, line, m, func(_ []byte, r jsonrpc.Message) { result = r.Result })
	if err == nil && result == nil {
		err = errors.New("the remote server refused the new session's initialize")
	}
	if err != nil {
		return fmt.Errorf("%w, and a new one could not start: %w", errSessionGone, err)
	}
	if notified == nil {
		notified = []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	}
	nm, _ := jsonrpc.Scan(notified)
	s.post(ctx, notified, nm)
	s.mu.Lock()
	s.gen++
	s.mu.Unlock()
	s.initialized(result)
	return nil
}

// post sends a notification or a reply to the remote's request: the
// remote accepts it (202), nothing comes back.
func (s *session) post(ctx context.Context, line []byte, m jsonrpc.Message) {
	ctx, cancel := context.WithTimeout(ctx, ownTimeout)
	defer cancel()
	resp, _, err := s.do(ctx, http.MethodPost, line, m, "")
	if err != nil {
		s.Log.Warn("a message to the remote server failed", "method", m.Method, "err", err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		s.Log.Warn("the remote server refused a message", "method", m.Method, "status", resp.StatusCode)
	}
}

// cancelCall ends the HTTP request of a request the client cancelled, after
// the remote was told.
func (s *session) cancelCall(m jsonrpc.Message) {
	start, end, ok := jsonrpc.Find(m.Params, "requestId")
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.calls[jsonrpc.IDKey(m.Params[start:end])]
	s.mu.Unlock()
	if c != nil {
		c.cancel()
	}
}

// end ends the remote session (DELETE), if there is one.
func (s *session) end() {
	s.mu.Lock()
	sid := s.sessionID
	s.mu.Unlock()
	if sid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if resp, _, err := s.do(ctx, http.MethodDelete, nil, jsonrpc.Message{}, ""); err == nil {
		resp.Body.Close()
	}
}

// do sends one HTTP request to the remote with the MCP headers the
// session and m call for, and returns the session id it carried.
func (s *session) do(ctx context.Context, method string, line []byte, m jsonrpc.Message, lastEventID string) (*http.Response, string, error) {
	var body io.Reader
	if line != nil {
		body = bytes.NewReader(line)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Transport.Target().URL.String(), body)
	if err != nil {
		return nil, "", err
	}
	h := req.Header
	if method == http.MethodPost {
		h.Set("Content-Type", "application/json")
		h.Set("Accept", "application/json, text/event-stream")
	} else {
		h.Set("Accept", "text/event-stream")
	}
	s.mu.Lock()
	sid, version := s.sessionID, s.version
	var params map[string]string
	if v := m.MetaVersion(); v != "" {
		version = v
	}
	if version >= statelessSince && m.IsRequest() {
		params = s.paramHeaders(m)
	}
	s.mu.Unlock()
	if sid != "" {
		h.Set(sessionHeader, sid)
	}
	if version != "" {
		h.Set(versionHeader, version)
	}
	if lastEventID != "" {
		h.Set("Last-Event-ID", lastEventID)
	}
	if version >= statelessSince && m.IsRequest() {
		h.Set(methodHeader, m.Method)
		if _, name, ok := m.MCPName(); ok {
			h.Set(nameHeader, name)
		}
		for k, v := range params {
			h.Set(k, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, sid, urlErr(err)
	}
	if id := resp.Header.Get(sessionHeader); id != "" && resp.StatusCode < 300 {
		s.mu.Lock()
		if s.sessionID == "" {
			s.sessionID = id
		}
		s.mu.Unlock()
	}
	return resp, sid, nil
}

// refused turns a status that is not a success into an error: the remote's
// own JSON-RPC error for m when it sent one, else one of the bridge's.
func (s *session) refused(resp *http.Response, m jsonrpc.Message) error {
	if resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if r, err := jsonrpc.Scan(bytes.TrimSpace(body)); err == nil && r.HasError && m.ID != nil {
		return &replyError{jsonrpc.SpliceID(bytes.TrimSpace(body), r, m.ID)}
	}
	why := resp.Status
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		why += " (the credentials were refused)"
	}
	if t := bytes.TrimSpace(body); len(t) > 0 {
		why += ": " + oneLine(string(t), 200)
	}
	return fmt.Errorf("the remote server answered %s", why)
}

func (s *session) tooLong(id []byte) *replyError {
	return &replyError{jsonrpc.ErrorReply(id, invalidRequest, fmt.Sprintf("mcp-secrets: the remote server's reply is longer than %d bytes (--max-message) and was dropped", s.MaxMessage))}
}

// clientTooLong refuses a message from the client longer than the limit.
func (s *session) clientTooLong(head []byte) {
	s.Log.Warn("dropped a message from the client longer than the limit", "limit", s.MaxMessage)
	if id := jsonrpc.LeadingID(head); id != nil {
		s.replyError(id, invalidRequest, fmt.Sprintf("mcp-secrets: the request is longer than %d bytes (--max-message) and was dropped", s.MaxMessage))
	}
}

func (s *session) replyError(id []byte, code int, msg string) {
	s.out.send(jsonrpc.ErrorReply(id, code, msg))
}

// clientOut writes messages to the client, one line each, redacted, one at
// a time. A client that stopped reading holds the writers back; one that
// went away drops what comes.
type clientOut struct {
	mu  sync.Mutex
	w   io.Writer
	set *redact.Set
	buf []byte
	err error
}

func (o *clientOut) send(msg []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return
	}
	o.buf = append(o.set.Load().JSON(o.buf[:0], msg), '\n')
	_, o.err = o.w.Write(o.buf)
	if cap(o.buf) > 1<<20 {
		o.buf = nil // a large reply's buffer is not kept
	}
}

// readLines calls line with each line of r (at most max bytes, newline
// included; the slice is good until line returns), and tooLong with the
// start of each longer one, which is dropped.
func readLines(r io.Reader, max int, line, tooLong func([]byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var acc []byte
	skipping := false
	for {
		chunk, err := br.ReadSlice('\n')
		whole := err == nil
		switch {
		case skipping:
			skipping = !whole
		case len(acc)+len(chunk) > max:
			head := chunk
			if acc != nil {
				head = acc
			}
			tooLong(head[:min(len(head), tooLongHead)])
			acc, skipping = nil, !whole
		case whole && acc == nil:
			line(chunk)
		default:
			acc = append(acc, chunk...)
			if whole {
				line(acc)
				acc = nil
			}
		}
		switch {
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if len(acc) > 0 {
				line(acc)
			}
			return nil
		default:
			return err
		}
	}
}

// mediaType is a response's Content-Type without parameters.
func mediaType(resp *http.Response) string {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt
}
