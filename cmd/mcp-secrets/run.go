package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/launch"
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
	maxMessage   int64
}

func (f *superviseFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.stopSignal, "stop-signal", "SIGTERM", "signal that asks the child's process group to stop (no meaning on Windows: CTRL_BREAK_EVENT, then the job ends)")
	durationVar(fs, &f.stopTimeout, "stop-timeout", 10*time.Second, "time the child has to stop before SIGKILL to its group")
	fs.BoolVar(&f.watch, "watch", true, "watch the secrets and restart the child when one really changes")
	durationVar(fs, &f.pollInterval, "poll-interval", 60*time.Second, "how often each store is asked for the versions of its secrets (±10%)")
	durationVar(fs, &f.debounce, "debounce", 500*time.Millisecond, "restart once no change has arrived for this long")
	durationVar(fs, &f.debounceMax, "debounce-max", 5*time.Second, "but never later than this after the first change")
	fs.BoolVar(&f.redact, "redact", true, "replace resolved values in what the child prints (stdout and stderr) with [REDACTED:VAR]")
	sizeVar(fs, &f.maxMessage, "max-message", injector.DefaultMaxMessage, "longest MCP message (a line), in bytes, from the client or the server; a longer one is dropped and a request it was gets an error reply")
}

// check validates what the flags parsers cannot see alone, and returns the
// stop signal.
func (f *superviseFlags) check() (syscall.Signal, error) {
	if f.debounce > f.debounceMax {
		return 0, usageError{fmt.Errorf("--debounce %v is longer than --debounce-max %v", f.debounce, f.debounceMax)}
	}
	return parseSignal(f.stopSignal)
}

// spec is how children are stopped.
func (f *superviseFlags) spec(ownGroup bool, stop syscall.Signal) injector.Spec {
	return injector.Spec{OwnGroup: ownGroup, StopSignal: stop, StopTimeout: f.stopTimeout}
}

// watcher watches the secrets of r's resolutions; resolve resolves again,
// through cache.
func (f *superviseFlags) watcher(log *slog.Logger, r *launch.Resolver, cache *rotation.Cache, resolve func(context.Context) (*launch.Resolution, error), updates chan<- launch.Launch) *rotation.Watcher {
	return &rotation.Watcher{
		Resolve:     resolve,
		Providers:   r.Stores,
		Cache:       cache,
		Files:       r.Files.Paths(),
		Interval:    f.pollInterval,
		Timeout:     r.Timeout(),
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
	fs.StringVar(&f.mcp, "mcp", "auto", "speak MCP on the child's stdio, keeping the client's session across restarts: auto (if the client's first line is a JSON-RPC request or notification), on or off")
	return cmd
}

func (a *app) runChild(ctx context.Context, f *runFlags, argv []string) error {
	stopSig, err := f.supervise.check()
	if err != nil {
		return err
	}
	mcpMode, err := injector.ParseMCPMode(f.mcp)
	if err != nil {
		return usageError{err}
	}
	r, err := a.newResolver(&f.resolveFlags, argv, "")
	if err != nil {
		return err
	}
	defer r.Close()
	cache := &rotation.Cache{}
	r.Refs.Providers = cache.Wrap(r.Stores)
	res, err := resolveInterruptibly(ctx, r)
	if err != nil {
		return err
	}
	a.noDumps()
	limitMemory(f.supervise.maxMessage)
	reap := os.Getpid() == 1
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, injector.Signals(reap)...)
	defer signal.Stop(sigs)
	guard := injector.NewGuard(a.watchdog(), reap, a.log)
	defer guard.Close()
	sup := &injector.Supervisor{
		Spec:  f.supervise.spec(!injector.IsTerminal(a.stdin), stopSig),
		Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr,
		MCP:        mcpMode,
		MaxMessage: int(f.supervise.maxMessage),
		Log:        a.log,
		Guard:      guard,
	}
	if f.supervise.redact {
		sup.Redact = a.redact
	}
	updates := make(chan launch.Launch)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if f.supervise.watch {
		w := f.supervise.watcher(a.log, r, cache, r.Resolve, updates)
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
func resolveInterruptibly(ctx context.Context, r *launch.Resolver) (*launch.Resolution, error) {
	ctx, stop := signal.NotifyContext(ctx, injector.Signals(false)...)
	defer stop()
	return r.Resolve(ctx)
}

// noDumps keeps the launcher's memory, which holds the values, out of core
// files where the system allows it.
func (a *app) noDumps() {
	if err := injector.NoDumps(); errors.Is(err, errors.ErrUnsupported) {
		a.log.Debug("no core dump control on this system")
	} else if err != nil {
		a.log.Warn("could not turn off core dumps", "err", err)
	}
}

// limitMemory asks the garbage collector to keep the heap near what the
// largest messages need, rather than letting it double: the launcher's
// memory stays small whatever a peer sends (a soft limit; nothing fails).
func limitMemory(maxMessage int64) {
	debug.SetMemoryLimit(32<<20 + 2*maxMessage)
}

// watchdog is the command of the guard's watchdog: this binary, re-executed.
func (a *app) watchdog() *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		a.log.Warn("no watchdog: processes a child starts may outlive the launcher if it is killed", "err", err)
		return nil
	}
	cmd := exec.Command(self, watchdogCommand)
	cmd.Args[0] = os.Args[0] // as invoked: a multi-call binary (the tests') dispatches on it
	return cmd
}

// watchdogCommand is the hidden command the watchdog runs as.
const watchdogCommand = "internal-watchdog"

func (a *app) watchdogCmd() *cobra.Command {
	return &cobra.Command{
		Use:    watchdogCommand,
		Short:  "The watchdog that kills a launcher's children when it ends (started by run and serve)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return exitError{injector.WatchdogMain(a.stdin)}
		},
	}
}
