package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
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
	allowOrigins    []string
	shutdownTimeout time.Duration
}

// readyEvery is how often /readyz resolves every reference again, however
// many probes ask: a probe must not become a storm of API calls.
const readyEvery = 10 * time.Second

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
	fs.IntVar(&f.maxSessions, "max-sessions", 64, "stateful sessions per server (one child each)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 30*time.Minute, "end a session without requests for this long (0: never)")
	sizeVar(fs, &f.maxBody, "max-body", 4<<20, "largest request body, in bytes")
	fs.StringVar(&f.authToken, "auth-token", "", "bearer token the MCP endpoints require; better a reference, or env MCP_SECRETS_AUTH_TOKEN (argv is readable by every user)")
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
		list[i] = sidecar.Server{Name: s.name, Launch: s.first.Launch}
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
		servers = append(servers, &served{name: c.Name, where: where, r: r, environ: serverEnviron(a.environ, c.Env), env: c.Env})
	}
	failed := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
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
			if _, err := fresh.Resolve(ctx, s.r.Vars(s.environ, s.env)); err != nil {
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
