package remote

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync/atomic"
)

// Transport is the http.RoundTripper of every request to a remote server:
// it sends each to the target in effect, with its headers and, for OAuth
// client credentials, an access token. A request the server refuses with
// 401 gets one more try when newer credentials exist: a rotation that
// arrived while it was in flight, one the store has that no poll has seen
// yet (Refresh), or a new access token. Rotation needs no restart and the
// client's session goes on.
type Transport struct {
	base    http.RoundTripper
	target  atomic.Pointer[Target]
	refresh func(context.Context) (*Target, error)
	tokens  *Tokens
	log     *slog.Logger
}

// NewTransport sends to first until Set; refresh (may be nil) resolves
// again after a 401, tokens (may be nil) adds access tokens.
func NewTransport(first *Target, refresh func(context.Context) (*Target, error), tokens *Tokens, log *slog.Logger) *Transport {
	base := http.DefaultTransport.(*http.Transport).Clone()
	t := &Transport{base: base, refresh: refresh, tokens: tokens, log: log}
	t.target.Store(first)
	return t
}

// Set makes tg the target of the requests sent from now on.
func (t *Transport) Set(tg *Target) { t.target.Store(tg) }

// Target is the target in effect.
func (t *Transport) Target() *Target { return t.target.Load() }

// RoundTrip sends req to the target in effect: its URL replaces req's.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := t.target.Load()
	resp, err := t.send(req, sent)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	next, ok := t.newer(req.Context(), sent)
	if !ok || req.Body != nil && req.GetBody == nil {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	t.log.Info("the remote server refused the credentials; trying once more with newer ones")
	return t.send(retry, next)
}

func (t *Transport) send(req *http.Request, tg *Target) (*http.Response, error) {
	out := req.Clone(req.Context())
	u := *tg.URL
	out.URL, out.Host = &u, ""
	for k, v := range tg.Header {
		out.Header[k] = v
	}
	if t.tokens != nil {
		tok, err := t.tokens.Token(req.Context(), tg.ClientSecret.Reveal())
		if err != nil {
			return nil, err
		}
		out.Header.Set("Authorization", "Bearer "+tok)
	}
	return t.base.RoundTrip(out)
}

// newer returns the credentials to try after sent was refused, if any are
// newer: a target set meanwhile, a fresh resolution, else a new access
// token (at most once per refreshEvery, as a refresh).
func (t *Transport) newer(ctx context.Context, sent *Target) (*Target, bool) {
	if cur := t.target.Load(); !cur.equal(sent) {
		return cur, true
	}
	if t.refresh != nil {
		next, err := t.refresh(ctx)
		if err != nil {
			t.log.Warn("after a 401 from the remote server, resolving again failed", "err", err)
		}
		if next != nil && !next.equal(sent) {
			t.target.CompareAndSwap(sent, next)
			return t.target.Load(), true
		}
	}
	if t.tokens != nil && t.tokens.drop() {
		return sent, true
	}
	return nil, false
}

// equal reports whether two targets send the same request.
func (tg *Target) equal(o *Target) bool {
	return tg == o || tg != nil && o != nil && tg.URL.String() == o.URL.String() &&
		tg.ClientSecret.Reveal() == o.ClientSecret.Reveal() &&
		maps.EqualFunc(tg.Header, o.Header, slices.Equal)
}
