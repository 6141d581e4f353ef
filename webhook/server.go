// Package webhook is the Kubernetes mutating admission webhook: a pod
// annotated mcp-secrets.dev/inject gets the serve sidecar (sidecar, with
// mcp-secrets.dev/config naming its ConfigMap) or has each container whose
// env holds references run through `mcp-secrets run` (exec). It speaks
// AdmissionReview v1 over HTTPS at /mutate, serves /healthz and /metrics,
// and reads its certificate again when the files change.
package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// maxReview bounds an AdmissionReview body: etcd stores objects of at most
// 1.5 MiB, and a pod's review carries one object.
const maxReview = 4 << 20

// Options configure a Server.
type Options struct {
	CertFile, KeyFile string
	Images            Images
	Log               *slog.Logger
	// ShutdownTimeout bounds how long reviews in flight may take once the
	// context given to Serve is done.
	ShutdownTimeout time.Duration
}

// Server is the webhook's HTTPS server.
type Server struct {
	opts    Options
	keys    *keyPair
	metrics *metrics
}

// New reads the certificate and key once: a webhook that cannot serve TLS
// fails at start.
func New(opts Options) (*Server, error) {
	m := newMetrics()
	keys, err := loadKeyPair(opts.CertFile, opts.KeyFile, opts.Log, m)
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts, keys: keys, metrics: m}, nil
}

// Handler serves /mutate, /healthz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mutate", s.mutate)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.metrics.write(w)
	})
	return mux
}

// Serve serves HTTPS on ln until ctx is done, then lets the reviews in
// flight finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         &tls.Config{GetCertificate: s.keys.getCertificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // the API server gives up on a webhook after 30 s at most
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelDebug), // TLS handshake errors of probes and scanners
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) mutate(w http.ResponseWriter, r *http.Request) {
	begin := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReview))
	if err != nil {
		code := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), code)
		return
	}
	req, err := decodeReview(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, m := s.opts.Images.admit(req)
	out, err := json.Marshal(review{APIVersion: reviewVersion, Kind: "AdmissionReview", Response: &resp})
	if err != nil {
		panic(err) // plain structs: they always encode
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)

	mode, result := m.mode, "unchanged"
	if mode == "" {
		mode = "none"
	}
	switch {
	case !resp.Allowed:
		result = "denied"
		s.opts.Log.Info("denied", "namespace", req.Namespace, "pod", m.pod, "reason", resp.Result.Message)
	case len(m.ops) > 0:
		result = "patched"
		s.opts.Log.Info("injected", "mode", mode, "namespace", req.Namespace, "pod", m.pod, "operations", len(m.ops))
	}
	s.metrics.admission(mode, result, time.Since(begin))
}
