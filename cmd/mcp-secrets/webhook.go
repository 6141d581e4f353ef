package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/webhook"
)

type webhookFlags struct {
	listen          string
	certFile        string
	keyFile         string
	images          webhook.Images
	shutdownTimeout time.Duration
}

func (a *app) webhookCmd() *cobra.Command {
	var f webhookFlags
	cmd := &cobra.Command{
		Use:   "webhook --tls-cert-file FILE --tls-key-file FILE --sidecar-image IMAGE --exec-image IMAGE [--listen :8443]",
		Short: "A Kubernetes admission webhook: the serve sidecar, or each container run through mcp-secrets run, for an annotated pod",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return usageError{err}
			}
			return a.webhook(cmd.Context(), &f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", ":8443", "address to serve HTTPS on: /mutate, /healthz, /metrics")
	fs.StringVar(&f.certFile, "tls-cert-file", "", "serving certificate (PEM); read again when it changes on disk")
	fs.StringVar(&f.keyFile, "tls-key-file", "", "its private key (PEM)")
	fs.StringVar(&f.images.Sidecar, "sidecar-image", "", "image of the sidecar inject: sidecar adds (runs serve; the Dockerfile's sidecar target)")
	fs.StringVar(&f.images.Exec, "exec-image", "", "image whose entrypoint is the static mcp-secrets, copied into pods by inject: exec (the Dockerfile's launcher target)")
	durationVar(fs, &f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, time for reviews in flight")
	cmd.AddCommand(&cobra.Command{
		Use:   "install DIR",
		Short: "Copy this binary into DIR as mcp-secrets (the init container inject: exec adds)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return webhook.Install(args[0]) },
	})
	return cmd
}

// check finds every missing or malformed flag before anything starts.
func (f *webhookFlags) check() error {
	var errs []error
	for _, r := range []struct{ name, value string }{
		{"tls-cert-file", f.certFile}, {"tls-key-file", f.keyFile},
		{"sidecar-image", f.images.Sidecar}, {"exec-image", f.images.Exec},
	} {
		if r.value == "" {
			errs = append(errs, fmt.Errorf("webhook: no --%s given", r.name))
		} else if strings.ContainsFunc(r.value, func(c rune) bool { return c <= ' ' }) {
			errs = append(errs, fmt.Errorf("--%s %q: has a space or a control character", r.name, r.value))
		}
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen: %w", err))
	}
	return errors.Join(errs...)
}

func (a *app) webhook(ctx context.Context, f *webhookFlags) error {
	srv, err := webhook.New(webhook.Options{
		CertFile: f.certFile, KeyFile: f.keyFile, Images: f.images, Log: a.log, ShutdownTimeout: f.shutdownTimeout,
	})
	if err != nil {
		return providers.Errorf(providers.ErrConfig, "%w", err)
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return providers.Errorf(providers.ErrConfig, "--listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a.log.Info("listening", "addr", ln.Addr().String(), "sidecar_image", f.images.Sidecar, "exec_image", f.images.Exec)
	return srv.Serve(ctx, ln)
}
