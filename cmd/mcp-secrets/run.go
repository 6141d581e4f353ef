package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/rotation"
)

type runFlags struct {
	resolveFlags
	supervise superviseFlags
	mcp       string
}

// superviseFlags are the flags of the commands that supervise children
// and restart them when a secret rotates (run, serve).
type superviseFlags struct {
	stopSignal   string
	stopTimeout  time.Duration
	watch        bool
	pollInterval time.Duration
	debounce     time.Duration
	debounceMax  time.Duration
	redact       bool
}

func (f *superviseFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.stopSignal, "stop-signal", "SIGTERM", "signal that asks the child's process group to stop")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", 10*time.Second, "time the child has to stop before SIGKILL to its group")
	fs.BoolVar(&f.watch, "watch", true, "watch the secrets and restart the child when one really changes")
	fs.DurationVar(&f.pollInterval, "poll-interval", 60*time.Second, "how often each store is asked for the versions of its secrets (±10%)")
	fs.DurationVar(&f.debounce, "debounce", 500*time.Millisecond, "restart once no change has arrived for this long")
	fs.DurationVar(&f.debounceMax, "debounce-max", 5*time.Second, "but never later than this after the first change")
	fs.BoolVar(&f.redact, "redact", true, "replace resolved values in what an MCP child prints (stdout and stderr) with [REDACTED:VAR]")
}

// watcher watches the secrets of sess's resolutions; resolve resolves
// again, through cache.
func (f *superviseFlags) watcher(log *slog.Logger, sess *session, cache *rotation.Cache, resolve func(context.Context) (*rotation.Resolution, error), updates chan<- injector.Launch) *rotation.Watcher {
	return &rotation.Watcher{
		Resolve:     resolve,
		Providers:   sess.stores,
		Cache:       cache,
		Files:       sess.files.Paths(),
		Interval:    f.pollInterval,
		Timeout:     sess.flags.timeout,
		Debounce:    f.debounce,
		DebounceMax: f.debounceMax,
		Log:         log,
		Updates:     updates,
	}
}

func (a *app) runCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...]",
		Short: "Resolve references, start COMMAND with the values, supervise it and restart it when a secret rotates",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("run: no command given: %s", cmd.UseLine())}
			}
			return a.runChild(cmd.Context(), &f, args)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	f.register(fs, a, providers.FallbackAuto)
	f.supervise.register(fs)
	fs.StringVar(&f.mcp, "mcp", "auto", "speak MCP on the child's stdio, keeping the client's session across restarts: auto (if the client's first message is initialize or server/discover), on or off")
	return cmd
}

func (a *app) runChild(ctx context.Context, f *runFlags, argv []string) error {
	stopSig, err := parseSignal(f.supervise.stopSignal)
	if err != nil {
		return err
	}
	mcpMode, err := injector.ParseMCPMode(f.mcp)
	if err != nil {
		return usageError{err}
	}
	sess, err := a.newSession(&f.resolveFlags, argv)
	if err != nil {
		return err
	}
	defer sess.close()
	cache := &rotation.Cache{}
	sess.resolver.Providers = cache.Wrap(sess.stores)
	res, err := resolveInterruptibly(ctx, sess)
	if err != nil {
		return err
	}
	if err := injector.NoDumps(); err != nil {
		a.log.Warn("could not turn off core dumps", "err", err)
	}
	reap := os.Getpid() == 1
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, injector.Signals(reap)...)
	defer signal.Stop(sigs)
	sup := &injector.Supervisor{
		Spec: injector.Spec{
			OwnGroup:    !injector.IsTerminal(a.stdin),
			StopSignal:  stopSig,
			StopTimeout: f.supervise.stopTimeout,
		},
		Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr,
		MCP:  mcpMode,
		Log:  a.log,
		Reap: reap,
	}
	if f.supervise.redact {
		sup.Redact = a.redact
	}
	updates := make(chan injector.Launch)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if f.supervise.watch {
		w := f.supervise.watcher(a.log, sess, cache, sess.resolve, updates)
		wg.Go(func() { w.Run(ctx, res) })
	}
	code, err := sup.Run(ctx, res.Launch, updates, sigs)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	return exitError{code}
}

// resolveInterruptibly resolves, giving up if the launcher is told to stop
// meanwhile: a client that gives up on a slow provider must not wait for it.
func resolveInterruptibly(ctx context.Context, sess *session) (*rotation.Resolution, error) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	return sess.resolve(ctx)
}

// parseSignal reads a signal name (SIGTERM, TERM) or number.
func parseSignal(s string) (syscall.Signal, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := s
	if len(name) < 3 || name[:3] != "SIG" {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, usageError{fmt.Errorf("--stop-signal %q: not a signal", s)}
}
