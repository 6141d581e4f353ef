package sidecar

import (
	"bytes"
	"context"
	"net/http"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/remote"
)

// remoteServer is a url entry: the remote server proxied at /NAME/mcp with
// its configured headers, so the agent needs no token of its own and never
// sees one. What the remote sends back is redacted as a child's output is.
// Its launch is the entry's URL and headers, resolved
// (remote.Config.Environ); a rotation takes effect at the next request.
type remoteServer struct {
	name    string
	proxy   *remote.Proxy
	invalid error // the first launch made no target: answered 502 until a rotation does
	// streams ends the GET streams (the remote's own messages) at shutdown:
	// they last until the client leaves.
	streams context.Context
	close   context.CancelFunc
}

func (s *Sidecar) newRemote(srv Server) *remoteServer {
	r := &remoteServer{name: srv.Name}
	r.streams, r.close = context.WithCancel(context.Background())
	tg, err := remote.TargetOf(srv.Launch)
	if err != nil {
		r.invalid = err
		s.opts.Log.Error("a remote server's URL or headers are not valid", "server", srv.Name, "err", err)
	}
	max := s.opts.MaxMessage
	if max <= 0 {
		max = injector.DefaultMaxMessage
	}
	r.proxy = &remote.Proxy{
		Transport:  remote.NewTransport(tg, nil, nil, s.opts.Log.With("server", srv.Name)),
		Redact:     s.opts.Redact,
		MaxMessage: max,
		Log:        s.opts.Log.With("server", srv.Name),
		Redacted: func(msg []byte) {
			if n := bytes.Count(msg, []byte("[REDACTED:")); n > 0 {
				s.opts.Metrics.redactions.WithLabelValues(srv.Name).Add(float64(n))
			}
		},
	}
	return r
}

func (r *remoteServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.proxy.Transport.Target() == nil {
		http.Error(w, "Bad Gateway: the remote server's URL or headers are not valid: "+r.invalid.Error(), http.StatusBadGateway)
		return
	}
	if req.Method == http.MethodGet {
		ctx, cancel := context.WithCancel(req.Context())
		defer cancel()
		defer context.AfterFunc(r.streams, cancel)()
		req = req.WithContext(ctx)
	}
	r.proxy.ServeHTTP(w, req)
}

// rotate sends the next requests with l's URL and headers.
func (r *remoteServer) rotate(l launch.Launch, s *Sidecar) {
	tg, err := remote.TargetOf(l)
	if err != nil {
		s.opts.Log.Error("a remote server's new URL or headers are not valid; the old ones stay", "server", r.name, "err", err)
		return
	}
	r.proxy.Transport.Set(tg)
}
