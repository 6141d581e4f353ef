package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

// maxValue bounds what set reads: more than any store keeps (AWS 64 KiB,
// Azure 25 KiB, the Windows Credential Manager 2,560 bytes).
const maxValue = 1 << 20

func (a *app) setCmd() *cobra.Command {
	var envFile string
	cmd := &cobra.Command{
		Use:   "set [--env-file FILE] REF",
		Short: "Store one value, read from stdin, at a reference of a writable provider",
		Long: `Set stores the value it reads from stdin at REF, a reference such as
'$<keychain:github/token>' (quoted: < and > are the shell's), where run
then finds it. The value never passes through an argument, so it stays out
of shell history and of every user's view of /proc/PID/cmdline.

On a terminal set asks for the value and does not echo it. Piped, it reads
all of stdin and drops one trailing newline (\n or \r\n): what echo and
printf %s pipe in store the same value. An empty value is refused.

REF is one of
  $<keychain:SERVICE/ACCOUNT>      an OS keychain item, replaced if it exists
  $<keychain:SERVICE/ACCOUNT#KEY>  a key of a keychain item holding a JSON object
  $<aws:NAME#KEY>                  a key of a secret holding a JSON object (created
  $<vault:PATH#KEY>                if missing; its other keys are kept)
  $<azure:VAULT/NAME#KEY>
  $<dotenv:NAME>, $<NAME>          a variable appended to --env-file (created with
                                   mode 0600)

Afterwards set reads REF back and checks it gives the value.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.set(cmd.Context(), envFile, args[0])
		},
	}
	cmd.Flags().StringVar(&envFile, "env-file", ".env", "the dotenv `file` a $<dotenv:NAME> reference is stored in")
	return cmd
}

func (a *app) set(ctx context.Context, envFile, arg string) error {
	def := cmp.Or(a.getenv("MCP_SECRETS_DEFAULT_PROVIDER"), "dotenv")
	ref, err := parseSetRef(arg, def)
	if err != nil {
		return err
	}
	files, err := dotenv.NewFiles(envFile)
	if err != nil {
		return err
	}
	provs := a.providers(files)
	defer providers.Close(provs)
	store, err := storeFor(provs, ref)
	if err != nil {
		return err
	}
	value, err := a.readValue(ref)
	if err != nil {
		return err
	}
	a.hide("set", []redact.Secret{{Name: ref.String(), Value: value}})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := store(ctx, value); err != nil {
		return fmt.Errorf("storing %s: %w", ref, err)
	}

	r := &providers.Resolver{Providers: provs, Default: def, Fallback: providers.FallbackOff, Log: a.log}
	got, err := r.Resolve(ctx, []providers.Var{{Name: "set", Value: ref.String()}})
	if err != nil {
		return fmt.Errorf("reading back: %w", err)
	}
	if got[0].Value.Reveal() != value {
		return providers.Errorf(providers.ErrConfig, "%s was stored but reads back another value", ref)
	}
	fmt.Fprintf(a.stdout, "stored %s %s\n", ref, got[0].Value.Masked())
	return nil
}

// parseSetRef reads set's argument: one reference, nothing else, with its
// provider. The argument is never shown: one that is no reference may be
// the value itself, typed where it does not belong.
func parseSetRef(arg, def string) (providers.Ref, error) {
	t, err := providers.Parse(arg)
	if err != nil {
		return providers.Ref{}, fmt.Errorf("set: %w", err)
	}
	if len(t) != 1 || t[0].Ref == nil {
		return providers.Ref{}, usageError{errors.New("set: the argument must be one reference, such as '$<keychain:github/token>'; the value is read from stdin, never from an argument")}
	}
	ref := *t[0].Ref
	ref.Provider = cmp.Or(ref.Provider, def)
	if ref.Version != "" || ref.Stage != "" {
		return providers.Ref{}, usageError{fmt.Errorf("set %s: a value is stored as the current version: drop ?version= and ?stage=", ref)}
	}
	return ref, nil
}

// storeFor is how the value of ref is stored, or why it cannot be, found
// before the value is asked for.
func storeFor(provs map[string]providers.Provider, ref providers.Ref) (func(context.Context, string) error, error) {
	p, ok := provs[ref.Provider]
	if !ok {
		return nil, usageError{fmt.Errorf("set %s: unknown provider %q", ref, ref.Provider)}
	}
	w, isWriter := p.(providers.Writer)
	vs, isSetter := p.(providers.ValueSetter)
	switch {
	case ref.Provider == "dotenv" && ref.Field != "":
		return nil, usageError{fmt.Errorf("set %s: a dotenv variable has no #field", ref)}
	case ref.Provider == "dotenv":
		return func(ctx context.Context, v string) error { return w.Put(ctx, ref.Path, map[string]string{ref.Path: v}) }, nil
	case !isWriter:
		return nil, usageError{fmt.Errorf("set %s: provider %s cannot store values", ref, ref.Provider)}
	case ref.Field == "" && !isSetter:
		return nil, usageError{fmt.Errorf("set %s: %s keeps a JSON object here: name a key, %s", ref, ref.Provider, providers.Ref{Provider: ref.Provider, Path: ref.Path, Field: "KEY"})}
	case ref.Field == "":
		return func(ctx context.Context, v string) error { return vs.SetValue(ctx, ref.Path, v) }, nil
	case strings.Contains(ref.Field, "."):
		return nil, usageError{fmt.Errorf("set %s: set writes a top-level key, not a nested one", ref)}
	}
	return func(ctx context.Context, v string) error {
		obj, err := currentObject(ctx, p, ref)
		if err != nil {
			return err
		}
		obj[ref.Field] = v
		return w.Put(ctx, ref.Path, obj)
	}, nil
}

// currentObject is the JSON object of strings the secret ref names holds,
// empty if there is no such secret yet.
func currentObject(ctx context.Context, p providers.Provider, ref providers.Ref) (map[string]string, error) {
	cur, err := p.Fetch(ctx, providers.Ref{Provider: ref.Provider, Path: ref.Path})
	if errors.Is(err, providers.ErrNotFound) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	var obj map[string]string
	if json.Unmarshal([]byte(cur.Reveal()), &obj) != nil || obj == nil {
		return nil, providers.Errorf(providers.ErrConfig, "the secret exists and is not a JSON object of strings: a key cannot be added to it")
	}
	return obj, nil
}

// readValue reads the value from stdin: without echo from a terminal,
// else all of it but one trailing newline, as `echo` adds.
func (a *app) readValue(ref providers.Ref) (string, error) {
	var b []byte
	var err error
	if f, ok := a.stdin.(*os.File); ok && injector.IsTerminal(f) {
		fmt.Fprintf(a.stderr, "Value for %s (not shown): ", ref)
		b, err = readHidden(f)
		fmt.Fprintln(a.stderr)
	} else {
		b, err = io.ReadAll(io.LimitReader(a.stdin, maxValue+1))
		if t, ok := bytes.CutSuffix(b, []byte("\r\n")); ok {
			b = t
		} else {
			b = bytes.TrimSuffix(b, []byte("\n"))
		}
	}
	switch {
	case err != nil:
		return "", err
	case len(b) == 0:
		return "", providers.Errorf(providers.ErrMalformed, "set: the value read from stdin is empty: nothing stored")
	case len(b) > maxValue:
		return "", providers.Errorf(providers.ErrMalformed, "set: the value read from stdin is longer than %d bytes: nothing stored", maxValue)
	case bytes.IndexByte(b, 0) >= 0:
		return "", providers.Errorf(providers.ErrMalformed, "set: the value holds a NUL byte, which no environment variable can carry: nothing stored")
	}
	return string(b), nil
}

// readHidden reads a line from the terminal f with echo off. Ctrl-C puts
// the terminal back as it was before set ends: a shell left without echo
// would be the user's to repair.
func readHidden(f *os.File) ([]byte, error) {
	fd := int(f.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	type line struct {
		b   []byte
		err error
	}
	done := make(chan line, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- line{b, err}
	}()
	select {
	case l := <-done:
		return l.b, l.err
	case <-sigs:
		term.Restore(fd, state)
		return nil, exitError{130}
	}
}
