package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

// app is one invocation: its streams, environment and logger.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
	redact         *redact.Set // values in effect, redacted from all the launcher prints
	hiddenMu       sync.Mutex
	hidden         map[string][]redact.Secret // the values in redact, by owner
	log            *slog.Logger
	logFormat      string
	logLevel       string
	// started is set once cobra has accepted the command line: an error
	// before that is a usage error.
	started bool
}

// getenv reads the launcher's environment as it started.
func (a *app) getenv(name string) string {
	for _, kv := range a.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// run is the whole command; main only exits with its result.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, environ: os.Environ(), redact: &redact.Set{}}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ex exitError
	if errors.As(err, &ex) {
		return ex.code
	}
	if err != nil && !a.started {
		err = usageError{err}
	}
	if err != nil {
		w := lineWriter{redact.NewWriter(stderr, a.redact, false)}
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(w, "mcp-secrets: %s\n", line)
		}
		return exitCode(err)
	}
	return 0
}

// exitError ends the launcher with a code that is not a failure of its own:
// the child's, or check's "something did not resolve" after its table.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mcp-secrets",
		Short:         "Resolve secret references into a child's environment, and keep them current",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.started = true
			return a.setupLog(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.logFormat, "log-format", "text", "log format on stderr: text or json")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error (run, exec and connect: warn unless given, or stderr is a terminal)")
	root.AddCommand(a.runCmd(), a.execCmd(), a.checkCmd(), a.versionCmd(), a.scanCmd(), a.wrapCmd(), a.serveCmd(), a.watchdogCmd(), a.webhookCmd(), a.setCmd(), a.connectCmd())
	return root
}

// hide makes owner's secrets (a session's: serve has one per server)
// those the launcher's output hides, with every other owner's.
func (a *app) hide(owner string, secrets []redact.Secret) {
	a.hiddenMu.Lock()
	defer a.hiddenMu.Unlock()
	if a.hidden == nil {
		a.hidden = map[string][]redact.Secret{}
	}
	a.hidden[owner] = secrets
	var all []redact.Secret
	for _, k := range slices.Sorted(maps.Keys(a.hidden)) {
		all = append(all, a.hidden[k]...)
	}
	a.redact.Store(redact.New(all))
}

// clientStarted are the commands an MCP client starts as a server.
var clientStarted = map[string]bool{"run": true, "exec": true, "connect": true}

// setupLog makes the launcher's logger: stderr only, every value in effect
// redacted from every line. Started by an MCP client, the launcher logs
// warnings and errors only, unless --log-level is given or a person
// watches stderr (a terminal): clients take what a server writes there for
// errors (Claude Code logs each line as `"error": "Server stderr: …"`),
// and a launcher that works must not look like one that fails.
func (a *app) setupLog(cmd *cobra.Command) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)}
	}
	if clientStarted[cmd.Name()] && !cmd.Flags().Changed("log-level") && !injector.IsTerminal(a.stderr) {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case "text":
		a.log = slog.New(slog.NewTextHandler(lineWriter{redact.NewWriter(a.stderr, a.redact, false)}, opts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(lineWriter{redact.NewWriter(a.stderr, a.redact, true)}, opts))
	default:
		return usageError{fmt.Errorf("--log-format %q: want text or json", a.logFormat)}
	}
	return nil
}

// lineWriter writes each of the launcher's own lines (a log record, an
// error) through the redactor at once: they are whole lines, never wrapped
// base64, and must not wait for the next one (nor be lost at exit).
type lineWriter struct{ w *redact.Writer }

func (l lineWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err == nil {
		err = l.w.Flush()
	}
	return n, err
}
