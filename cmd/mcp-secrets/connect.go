package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/redact"
	"github.com/mcp-secrets/mcp-secrets/remote"
	"github.com/mcp-secrets/mcp-secrets/rotation"
)

type connectFlags struct {
	resolve      resolveFlags   // --env-file, --default-provider, --fallback, --timeout
	watch        superviseFlags // --watch, --poll-interval, --debounce(-max), --redact, --max-message
	headers      []string
	clientID     string
	clientSecret string
	tokenURL     string
}

func (a *app) connectCmd() *cobra.Command {
	var f connectFlags
	cmd := &cobra.Command{
		Use:   "connect [flags] URL",
		Short: "A stdio MCP server that forwards to a remote Streamable HTTP server, with headers from references kept current without a restart",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("connect: give one URL: %s", cmd.UseLine())}
			}
			return a.connect(cmd.Context(), &f, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&f.headers, "header", nil, "'NAME: VALUE' sent with every request; VALUE may hold references, resolved here (never in any argv); repeatable")
	fs.StringVar(&f.clientID, "oauth-client-id", "", "get access tokens with the OAuth client-credentials grant, as this client")
	fs.StringVar(&f.clientSecret, "oauth-client-secret", "", "the client secret: a `reference` (argv is readable by every user)")
	fs.StringVar(&f.tokenURL, "oauth-token-url", "", "the token endpoint, instead of discovering it from the remote server's metadata")
	fs.StringArrayVar(&f.resolve.envFiles, "env-file", nil, "dotenv `file` that $<NAME> references and the fallback read; repeatable, later files win; default ./.env")
	fs.StringVar(&f.resolve.defaultProvider, "default-provider", cmp.Or(a.getenv("MCP_SECRETS_DEFAULT_PROVIDER"), "dotenv"), "provider of references that name none (env MCP_SECRETS_DEFAULT_PROVIDER)")
	fs.StringVar(&f.resolve.fallback, "fallback", cmp.Or(a.getenv("MCP_SECRETS_FALLBACK"), string(providers.FallbackAuto)), "auto: providers not configured here take the value from the dotenv file, under the header's name; off; only: never contact a provider (env MCP_SECRETS_FALLBACK)")
	durationVar(fs, &f.resolve.timeout, "timeout", 10*time.Second, "timeout of each fetch from a provider, and of each token request")
	fs.BoolVar(&f.watch.watch, "watch", true, "watch the secrets and send their new values from the next request on")
	durationVar(fs, &f.watch.pollInterval, "poll-interval", 60*time.Second, "how often each store is asked for the versions of its secrets (±10%)")
	durationVar(fs, &f.watch.debounce, "debounce", 500*time.Millisecond, "take new values once no change has arrived for this long")
	durationVar(fs, &f.watch.debounceMax, "debounce-max", 5*time.Second, "but never later than this after the first change")
	fs.BoolVar(&f.watch.redact, "redact", true, "replace resolved values in what the remote server sends back with [REDACTED:NAME]")
	sizeVar(fs, &f.watch.maxMessage, "max-message", injector.DefaultMaxMessage, "longest MCP message, in bytes, from the client or the remote server; a longer one is dropped and a request it was gets an error reply")
	return cmd
}

func (a *app) connect(ctx context.Context, f *connectFlags, rawURL string) error {
	if f.watch.debounce > f.watch.debounceMax {
		return usageError{fmt.Errorf("--debounce %v is longer than --debounce-max %v", f.watch.debounce, f.watch.debounceMax)}
	}
	cfg := remote.Config{URL: rawURL}
	for _, h := range f.headers {
		hdr, err := remote.ParseHeader(h)
		if err != nil {
			return usageError{err}
		}
		cfg.Headers = append(cfg.Headers, hdr)
	}
	if f.clientID != "" || f.clientSecret != "" || f.tokenURL != "" {
		cfg.OAuth = &remote.OAuthConfig{ClientID: f.clientID, ClientSecret: f.clientSecret, TokenURL: f.tokenURL}
	}
	if err := cfg.Check(); err != nil {
		return usageError{err}
	}
	r, err := a.newResolver(&f.resolve, nil, "")
	if err != nil {
		return err
	}
	defer r.Close()
	cache := &rotation.Cache{}
	r.Refs.Providers = cache.Wrap(r.Stores)
	res := remote.NewResolver(cfg, r, cache)

	// A client that gives up on a slow provider or authorization server
	// must not wait for it.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	first, err := res.Resolve(ctx)
	if err != nil {
		return err
	}
	a.noDumps()
	limitMemory(f.watch.maxMessage)
	tokens, err := a.oauthTokens(ctx, f, cfg, res.Target())
	if err != nil {
		return err
	}
	tr := remote.NewTransport(res.Target(), res.Refresh, tokens, a.log)
	bridge := &remote.Bridge{Transport: tr, MaxMessage: int(f.watch.maxMessage), Log: a.log}
	if f.watch.redact {
		bridge.Redact = a.redact
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if f.watch.watch {
		updates := make(chan launch.Launch)
		w := f.watch.watcher(a.log, r, cache, res.Resolve, updates)
		wg.Go(func() { w.Run(ctx, first) })
		wg.Go(func() {
			for {
				select {
				case <-updates:
					tr.Set(res.Target()) // the newest resolution, whichever update this is
				case <-ctx.Done():
					return
				}
			}
		})
	}
	err = bridge.Run(ctx, a.stdin, a.stdout)
	cancel()
	wg.Wait()
	return err
}

// oauthTokens gets the first access token now, when the flags ask for
// client credentials, so a wrong secret or a remote without metadata ends
// connect with its error before the client's first request.
func (a *app) oauthTokens(ctx context.Context, f *connectFlags, cfg remote.Config, tg *remote.Target) (*remote.Tokens, error) {
	if cfg.OAuth == nil {
		return nil, nil
	}
	client := &http.Client{Timeout: f.resolve.timeout}
	ep := remote.StaticEndpoint(cfg.OAuth.TokenURL, tg)
	if cfg.OAuth.TokenURL == "" {
		var err error
		if ep, err = remote.Discover(ctx, client, tg); err != nil {
			return nil, err
		}
	}
	t := &remote.Tokens{
		ClientID: cfg.OAuth.ClientID,
		Endpoint: ep,
		Client:   client,
		Timeout:  f.resolve.timeout,
		Hide:     func(s []redact.Secret) { a.hide("oauth", s) },
	}
	if _, err := t.Token(ctx, tg.ClientSecret.Reveal()); err != nil {
		return nil, err
	}
	a.log.Debug("oauth", "token_url", ep.TokenURL, "resource", ep.Resource)
	return t, nil
}
