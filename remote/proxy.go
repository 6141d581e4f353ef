package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/redact"
)

// Proxy serves a remote server at another endpoint (serve's url entries):
// each request goes to the remote with the configured headers, so the
// caller needs no credentials of its own; what comes back is redacted, a
// JSON reply as a whole, an event stream event by event. The caller's own
// Authorization and cookies never reach the remote.
type Proxy struct {
	Transport  *Transport
	Redact     *redact.Set // nil: nothing is redacted
	MaxMessage int         // longest reply or event, in bytes
	Log        *slog.Logger
	// Redacted, if set, gets each message after redaction (a metric counts
	// its markers).
	Redacted func([]byte)
}

// The caller's headers that go on to the remote, besides Mcp-Param-*: the
// transport's own and the MCP ones.
var forwarded = []string{"Accept", "Content-Type", sessionHeader, versionHeader, methodHeader, nameHeader, "Last-Event-Id"}

// The remote's headers that come back.
var returned = []string{"Content-Type", "Cache-Control", sessionHeader, versionHeader, "Allow", "Retry-After"}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader
	if r.Body != nil && r.Method == http.MethodPost {
		b, err := io.ReadAll(r.Body) // the caller bounds it
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "Bad Request: reading the body", http.StatusBadRequest)
			return
		}
		body = bytes.NewReader(b)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.Transport.Target().URL.String(), body)
	if err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	for _, k := range forwarded {
		if v := r.Header.Values(k); len(v) > 0 {
			out.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	for k, v := range r.Header {
		if strings.HasPrefix(k, paramPrefix) {
			out.Header[k] = v
		}
	}
	resp, err := p.Transport.RoundTrip(out)
	if err != nil {
		if r.Context().Err() == nil {
			p.Log.Warn("the remote server cannot be reached", "err", urlErr(err))
			http.Error(w, "Bad Gateway: the remote server cannot be reached", http.StatusBadGateway)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		// The caller is not the one refused: its credentials are ours.
		p.Log.Warn("the remote server refused the configured credentials", "status", resp.StatusCode)
		http.Error(w, "Bad Gateway: the remote server refused the sidecar's credentials", http.StatusBadGateway)
		return
	}
	for _, k := range returned {
		if v := resp.Header.Values(k); len(v) > 0 {
			w.Header()[http.CanonicalHeaderKey(k)] = v
		}
	}
	if mediaType(resp) == "text/event-stream" {
		w.WriteHeader(resp.StatusCode)
		http.NewResponseController(w).Flush()
		p.events(w, resp.Body)
		return
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(p.MaxMessage)+1))
	switch {
	case err != nil:
		http.Error(w, "Bad Gateway: reading the remote server's reply", http.StatusBadGateway)
		return
	case len(b) > p.MaxMessage:
		p.Log.Warn("dropped a reply from the remote server longer than the limit", "limit", p.MaxMessage)
		http.Error(w, fmt.Sprintf("Bad Gateway: the remote server's reply is longer than %d bytes", p.MaxMessage), http.StatusBadGateway)
		return
	}
	if mediaType(resp) == "application/json" {
		b = p.redact(b)
	} else {
		b = p.Redact.Load().Text(nil, b)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(resp.StatusCode)
	w.Write(b)
}

// events relays an event stream, each event's data redacted; an event too
// long to relay is dropped.
func (p *Proxy) events(w http.ResponseWriter, body io.Reader) {
	er := newEventReader(body, p.MaxMessage)
	var buf []byte
	for {
		ev, err := er.next()
		if err != nil {
			return
		}
		if ev.tooLong {
			p.Log.Warn("dropped an event from the remote server longer than the limit", "limit", p.MaxMessage)
			continue
		}
		buf = buf[:0]
		if ev.id != "" {
			buf = append(append(append(buf, "id: "...), ev.id...), '\n')
		}
		if ev.retry > 0 {
			buf = append(strconv.AppendInt(append(buf, "retry: "...), ev.retry.Milliseconds(), 10), '\n')
		}
		if ev.name != "" {
			buf = append(append(append(buf, "event: "...), ev.name...), '\n')
		}
		if len(ev.data) > 0 {
			for line := range bytes.SplitSeq(p.redact(ev.data), []byte("\n")) {
				buf = append(append(append(buf, "data: "...), line...), '\n')
			}
		}
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return
		}
		http.NewResponseController(w).Flush()
	}
}

// redact redacts one message (JSON kept valid).
func (p *Proxy) redact(msg []byte) []byte {
	out := p.Redact.Load().JSON(nil, msg)
	if p.Redacted != nil {
		p.Redacted(out)
	}
	return out
}
