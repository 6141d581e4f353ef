package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/redact"
	"github.com/mcp-secrets/mcp-secrets/rotation"
	"github.com/mcp-secrets/mcp-secrets/sidecar"
)

type serveFlags struct {
	resolveFlags
	supervise       superviseFlags
	config          string
	listen          string
	adminListen     string
	poolSize        int
	maxSessions     int
	idleTimeout     time.Duration
	maxBody         int64
	authToken       string
	oidcIssuer      string
	oidcAudience    string
	allowOrigins    []string
	shutdownTimeout time.Duration
}

// readyEvery is how often /readyz resolves every reference again, however
// many probes ask: a probe must not become a storm of API calls.
const readyEvery = 10 * time.Second

// defaultIdle ends abandoned sessions (health checks and one-shot clients
// never send DELETE) while each still holds a server process, often a
// ~60 MB node: five minutes keeps a pod from filling with them, and is
// longer than an agent usually waits between two tool calls; a client
// that waits longer gets 404 and initializes again, as the spec has it.
const defaultIdle = 5 * time.Minute

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --config FILE [--listen 127.0.0.1:8000] [flags]",
		Short: "Host the servers of an mcpServers file over MCP Streamable HTTP at /NAME/mcp (a pod sidecar)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.config == "" {
				return usageError{fmt.Errorf("serve: no --config given: %s", cmd.UseLine())}
			}
			return a.serve(cmd.Context(), &f)
		},
	}
	fs := cmd.Flags()
	f.register(fs, a, providers.FallbackOff)
	fs.Lookup("env-file").Usage = "dotenv `file` that $<NAME> references read (not handed to the children); repeatable, later files win; default ./.env"
	fs.Lookup("clean-env").Usage = "start each child's environment empty, plus --keep-env names and its server's env block"
	f.supervise.register(fs)
	fs.StringVar(&f.config, "config", "", "the mcpServers `file` (JSON: {\"mcpServers\": {NAME: {command, args, env}}})")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8000", "address to serve on; each server is at /NAME/mcp")
	fs.StringVar(&f.adminListen, "admin-listen", "", "serve /healthz, /readyz and /metrics on this address instead (e.g. :9090, for kubelet's probes and Prometheus)")
	fs.IntVar(&f.poolSize, "pool-size", 2, "warm children per server for stateless requests (protocol 2026-07-28)")
	fs.IntVar(&f.maxSessions, "max-sessions", 64, "stateful sessions per server (one child each); at the cap the least recently used idle one is evicted; also the users per server with {sub}")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", defaultIdle, "end a session, or a user's pool, without requests for this long (0: never)")
	sizeVar(fs, &f.maxBody, "max-body", 4<<20, "largest request body, in bytes")
	fs.StringVar(&f.authToken, "auth-token", "", "bearer token the MCP endpoints require; better a reference, or env MCP_SECRETS_AUTH_TOKEN (argv is readable by every user)")
	fs.StringVar(&f.oidcIssuer, "oidc-issuer", "", "an OAuth 2.1 resource server: the MCP endpoints take JWTs of this OIDC issuer (https; http only on loopback), and {sub} in a reference path is the token's sub")
	fs.StringVar(&f.oidcAudience, "oidc-audience", "", "the aud a token must hold (required with --oidc-issuer)")
	fs.StringArrayVar(&f.allowOrigins, "allow-origin", nil, "an `origin` (scheme://host:port) browsers may call from, besides localhost; repeatable")
	durationVar(fs, &f.shutdownTimeout, "shutdown-timeout", 20*time.Second, "on SIGTERM, time to drain sessions and stop the children")
	return cmd
}

// served is one server of the config with what resolves it.
type served struct {
	name    string
	where   string            // "FILE: mcpServers.NAME: ", before each of its problems
	r       *launch.Resolver  // resolves its references into its launch
	environ []string          // the sidecar's environment it starts from
	env     map[string]string // its env block, over environ
	first   *launch.Resolution
	// perUser: references in env name {sub}; each user's children get
	// values resolved for the user (first is nil).
	perUser bool
	// remote: a url entry, whose launch is its URL and headers
	// (environ is remote.Config.Environ, nothing of the sidecar's own).
	remote bool
}

func (s *served) resolve(ctx context.Context) (*launch.Resolution, error) {
	return s.r.ResolveEnv(ctx, s.environ, s.env)
}

func (a *app) serve(ctx context.Context, f *serveFlags) error {
	stopSig, err := f.supervise.check()
	if err != nil {
		return err
	}
	if f.poolSize < 0 || f.maxSessions < 0 {
		return usageError{errors.New("--pool-size and --max-sessions cannot be negative")}
	}
	if f.idleTimeout < 0 {
		return usageError{errors.New("--idle-timeout cannot be negative")}
	}
	switch {
	case f.oidcIssuer == "" && f.oidcAudience != "":
		return usageError{errors.New("--oidc-audience needs --oidc-issuer")}
	case f.oidcIssuer != "" && f.oidcAudience == "":
		return usageError{errors.New("--oidc-issuer needs --oidc-audience: a token for another service must not be taken")}
	case f.oidcIssuer != "" && (f.authToken != "" || a.getenv("MCP_SECRETS_AUTH_TOKEN") != ""):
		return usageError{errors.New("--oidc-issuer and --auth-token (or MCP_SECRETS_AUTH_TOKEN) exclude each other")}
	case f.oidcIssuer != "":
		if err := sidecar.CheckIssuer(f.oidcIssuer); err != nil {
			return usageError{err}
		}
	}
	// Every problem is found, one line each, before anything listens: the
	// config's, then every reference of every server, resolved now.
	cfg, err := sidecar.LoadConfig(f.config)
	if cfg == nil {
		return err
	}
	errs := []error{err}
	base, err := a.newResolver(&f.resolveFlags, nil, "")
	if err != nil {
		return err
	}
	defer base.Close()
	metrics := sidecar.NewMetrics()
	counted := metrics.Providers(base.Stores)
	cache := &rotation.Cache{}
	base.Refs.Providers = cache.Wrap(counted)
	fresh := *base.Refs // for /readyz: every reference from its store, now
	fresh.Providers = counted

	ctx, stop := signal.NotifyContext(ctx, injector.Signals(false)...)
	defer stop()

	servers, problems := a.resolveServers(ctx, f, cfg, base, metrics)
	errs = append(errs, problems...)
	token, err := a.authToken(ctx, base.Refs, f.authToken)
	if err != nil {
		errs = append(errs, prefixLines("auth token: ", err)...)
	}
	var oidc *sidecar.OIDC
	if f.oidcIssuer != "" {
		dctx, cancel := context.WithTimeout(ctx, f.timeout)
		oidc, err = sidecar.NewOIDC(dctx, f.oidcIssuer, f.oidcAudience, &http.Client{Timeout: f.timeout})
		cancel()
		if err != nil {
			errs = append(errs, providers.Errorf(providers.ErrUnavailable, "%w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a.noDumps()
	limitMemory(f.supervise.maxMessage)
	guard := injector.NewGuard(a.watchdog(), false, a.log)
	defer guard.Close()

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return providers.Errorf(providers.ErrConfig, "--listen: %w", err)
	}
	var admin net.Listener
	if f.adminListen != "" {
		if admin, err = net.Listen("tcp", f.adminListen); err != nil {
			ln.Close()
			return providers.Errorf(providers.ErrConfig, "--admin-listen: %w", err)
		}
		a.log.Info("health and metrics", "addr", admin.Addr().String())
	}
	opts := sidecar.Options{
		Spec:            f.supervise.spec(true, stopSig),
		Guard:           guard,
		MaxMessage:      int(f.supervise.maxMessage),
		Stderr:          a.stderr,
		Log:             a.log,
		Metrics:         metrics,
		MaxSessions:     f.maxSessions,
		IdleTimeout:     f.idleTimeout,
		MaxBodyBytes:    f.maxBody,
		PoolSize:        f.poolSize,
		AuthToken:       token,
		OIDC:            oidc,
		AllowOrigins:    f.allowOrigins,
		ReadyEvery:      readyEvery,
		ShutdownTimeout: f.shutdownTimeout,
		Ready:           ready(servers, &fresh),
	}
	if f.supervise.redact {
		opts.Redact = a.redact
	}
	list := make([]sidecar.Server, len(servers))
	names := make([]string, len(servers))
	for i, s := range servers {
		list[i] = sidecar.Server{Name: s.name, Remote: s.remote}
		if s.perUser {
			list[i].Users = a.users(f, s, cache, metrics)
		} else {
			list[i].Launch = s.first.Launch
		}
		names[i] = s.name
	}
	sc := sidecar.New(opts, list)

	if f.supervise.watch {
		defer a.watch(f, servers, cache, metrics, sc)()
	}
	a.log.Info("listening", "addr", ln.Addr().String(), "servers", strings.Join(names, ","))
	return sc.Serve(ctx, ln, admin)
}

// resolveServers resolves every server of the config at once, and says
// what does not resolve, one line each.
func (a *app) resolveServers(ctx context.Context, f *serveFlags, cfg *sidecar.Config, base *launch.Resolver, metrics *sidecar.Metrics) ([]*served, []error) {
	var errs []error
	var servers []*served
	for _, c := range cfg.Servers {
		where := f.config + ": mcpServers." + c.Name + ": "
		r, err := base.For(c.Argv(), func(s []redact.Secret) { a.hide(c.Name, s) })
		if err != nil {
			errs = append(errs, prefixLines(where, err)...)
			continue
		}
		s := &served{name: c.Name, where: where, r: r, environ: serverEnviron(a.environ, c.Env), env: c.Env}
		if c.URL != "" {
			s.environ, s.env, s.remote = c.Remote().Environ(), nil, true
		}
		if s.perUser, err = perUser(c.Env); err != nil {
			errs = append(errs, prefixLines(where, err)...)
			continue
		}
		if s.perUser && f.oidcIssuer == "" {
			errs = append(errs, providers.Errorf(providers.ErrConfig, "%s{sub} in a reference needs --oidc-issuer: it is the token's sub", where))
			continue
		}
		servers = append(servers, s)
	}
	failed := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			if s.perUser {
				// Only what every user shares can be resolved before a user comes.
				_, failed[i] = s.r.Refs.Resolve(ctx, s.r.Vars(s.environ, withoutSub(s.env)))
				return
			}
			s.first, failed[i] = s.resolve(ctx)
			metrics.Resolution(s.name, failed[i])
		})
	}
	wg.Wait()
	for i, err := range failed {
		if err != nil {
			errs = append(errs, prefixLines(servers[i].where, err)...)
		}
	}
	return servers, errs
}

// ready is /readyz's check: every reference of every server resolves now,
// from its store.
func ready(servers []*served, fresh *providers.Resolver) func(context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		for _, s := range servers {
			if _, err := fresh.Resolve(ctx, s.r.Vars(s.environ, withoutSub(s.env))); err != nil {
				errs = append(errs, prefixLines(s.where, err)...)
			}
		}
		return errors.Join(errs...)
	}
}

// watch watches each server's secrets and hands its new launches to the
// sidecar, until the returned stop is called.
func (a *app) watch(f *serveFlags, servers []*served, cache *rotation.Cache, metrics *sidecar.Metrics, sc *sidecar.Sidecar) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range servers {
		if s.perUser {
			continue // each user's values are watched while the user has children: see users
		}
		updates := make(chan launch.Launch)
		resolve := func(ctx context.Context) (*launch.Resolution, error) {
			r, err := s.resolve(ctx)
			metrics.Resolution(s.name, err)
			return r, err
		}
		w := f.supervise.watcher(a.log.With("server", s.name), s.r, cache, resolve, updates)
		wg.Go(func() { w.Run(ctx, s.first) })
		wg.Go(func() {
			for {
				select {
				case l := <-updates:
					sc.Rotate(s.name, l)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// users resolves a per-user server's launch for each user the sidecar
// serves, and watches the user's values until the sidecar lets the user go.
func (a *app) users(f *serveFlags, s *served, cache *rotation.Cache, metrics *sidecar.Metrics) sidecar.Users {
	return func(ctx context.Context, sub string, rotated func(launch.Launch)) (launch.Launch, func(), error) {
		env := withSub(s.env, sub)
		resolve := func(ctx context.Context) (*launch.Resolution, error) {
			r, err := s.r.ResolveEnv(ctx, s.environ, env)
			metrics.Resolution(s.name, err)
			return r, err
		}
		first, err := resolve(ctx)
		if err != nil {
			return launch.Launch{}, nil, err
		}
		// The user's secrets leave the cache with the user.
		var own []providers.Key
		for _, v := range first.Resolved {
			for _, src := range v.Sources {
				if strings.Contains(src.Ref.Path, sub) {
					own = append(own, src.Ref.Key())
				}
			}
		}
		wctx, cancel := context.WithCancel(context.Background())
		if f.supervise.watch {
			updates := make(chan launch.Launch)
			w := f.supervise.watcher(a.log.With("server", s.name, "sub", sub), s.r, cache, resolve, updates)
			go w.Run(wctx, first)
			go func() {
				for {
					select {
					case l := <-updates:
						rotated(l)
					case <-wctx.Done():
						return
					}
				}
			}()
		}
		// Called under the sidecar's lock: it only signals.
		return first.Launch, func() {
			cancel()
			cache.Forget(own...)
		}, nil
	}
}

// subPlaceholder in a reference's path is the user's sub (OIDC).
const subPlaceholder = "{sub}"

// perUser reports whether a server's env block names {sub} in a reference
// path; its references must parse.
func perUser(env map[string]string) (bool, error) {
	found := false
	var errs []error
	for name, v := range env {
		if !providers.HasRef(v) || !strings.Contains(v, subPlaceholder) {
			continue
		}
		t, err := providers.Parse(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		for _, ref := range t.Refs() {
			found = found || strings.Contains(ref.Path, subPlaceholder)
		}
	}
	return found, errors.Join(errs...)
}

// withSub is env with {sub} in every reference path replaced by sub (a
// validated sub: it cannot change the reference's shape).
func withSub(env map[string]string, sub string) map[string]string {
	out := make(map[string]string, len(env))
	for name, v := range env {
		out[name] = v
		if !providers.HasRef(v) || !strings.Contains(v, subPlaceholder) {
			continue
		}
		t, err := providers.Parse(v)
		if err != nil {
			continue // perUser refused it before anything listened
		}
		for _, p := range t {
			if p.Ref != nil {
				p.Ref.Path = strings.ReplaceAll(p.Ref.Path, subPlaceholder, sub)
			}
		}
		out[name] = t.String()
	}
	return out
}

// withoutSub is env without the variables whose references name {sub}:
// what every user shares.
func withoutSub(env map[string]string) map[string]string {
	out := map[string]string{}
	for name, v := range env {
		if one, _ := perUser(map[string]string{name: v}); !one {
			out[name] = v
		}
	}
	return out
}

// serverEnviron is the sidecar's environment as a server's child starts
// from it: without the variables its env block sets, which go over it as
// --env-file variables do for run (credentials and --clean-env spare them),
// and without those that hold references: they are the sidecar's own, such
// as its token.
func serverEnviron(environ []string, env map[string]string) []string {
	var out []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, set := env[k]; !set && !providers.HasRef(v) {
			out = append(out, kv)
		}
	}
	return out
}

// authToken resolves the bearer token (--auth-token, else
// MCP_SECRETS_AUTH_TOKEN; either may be a reference), hidden from all the
// sidecar prints from then on.
func (a *app) authToken(ctx context.Context, r *providers.Resolver, flag string) (providers.Secret, error) {
	value := cmp.Or(flag, a.getenv("MCP_SECRETS_AUTH_TOKEN"))
	if value == "" {
		return providers.Secret{}, nil
	}
	if flag != "" && !providers.HasRef(flag) {
		a.log.Warn("--auth-token holds the token itself, which every user of this machine can read in /proc/PID/cmdline; give a reference, or MCP_SECRETS_AUTH_TOKEN")
	}
	res, err := r.Resolve(ctx, []providers.Var{{Name: "auth token", Value: value}})
	if err != nil {
		return providers.Secret{}, err
	}
	a.hide("auth token", []redact.Secret{{Name: "AUTH_TOKEN", Value: res[0].Value.Reveal()}})
	return res[0].Value, nil
}

// prefixLines puts prefix before each line of err, a resolver's error: its
// failures joined, one line each, whose kinds decide the exit code.
func prefixLines(prefix string, err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || !strings.Contains(err.Error(), "\n") {
		return []error{fmt.Errorf("%s%w", prefix, err)}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, fmt.Errorf("%s%w", prefix, e))
	}
	return out
}
