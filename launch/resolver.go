package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

// Options are what the launcher's flags say about resolving.
type Options struct {
	EnvFiles        []string // --env-file; none: ./.env answers lookups only
	Default         string   // provider of references that name none
	Fallback        providers.Fallback
	Timeout         time.Duration // per fetch
	Keep            []string      // credentials passed on all the same
	Clean           bool          // the child's environment starts empty
	AllowSecretArgs bool
}

// Resolver resolves the references of one child's launch (the launcher's
// environment, the env files, the arguments) and resolves them again after
// a change. Every value it resolves goes to Hide, and stays there. It is
// safe for concurrent use: serve resolves one server for many users at
// once, each with a watcher of its own.
type Resolver struct {
	opts    Options
	argv    []string
	environ []string // the launcher's environment
	// Files are the dotenv files: the --env-file variables and the values
	// of $<NAME> references and of the fallback.
	Files *dotenv.Files
	// Stores are the providers as built, by name: what rotation watches.
	Stores map[string]providers.Provider
	// Refs resolves variables, through Stores or a cache around them.
	Refs *providers.Resolver
	// Hide gets the redaction targets after each resolution: the values of
	// this one and of every one before (an old child may still print them,
	// and a revoked key is still a key).
	Hide func([]redact.Secret)
	log  *slog.Logger

	mu            sync.Mutex // guards what follows, and orders the calls of Hide
	history       []redact.Secret
	historySize   int
	warnedShort   map[string]bool
	warnedHistory bool
}

// New returns the resolver of argv, whose stores are built on the dotenv
// files (the dotenv provider is the files themselves). A reference in argv
// is an error unless AllowSecretArgs.
func New(o Options, argv, environ []string, stores func(*dotenv.Files) map[string]providers.Provider, log *slog.Logger) (*Resolver, error) {
	if err := CheckArgs(argv, o.AllowSecretArgs); err != nil {
		return nil, err
	}
	paths := o.EnvFiles
	if len(paths) == 0 {
		paths = []string{".env"}
	}
	files, err := dotenv.NewFiles(paths...)
	if err != nil {
		return nil, err
	}
	r := &Resolver{opts: o, argv: argv, environ: environ, Files: files, log: log}
	r.Stores = stores(files)
	r.Refs = &providers.Resolver{
		Providers: r.Stores,
		Default:   o.Default,
		Fallback:  o.Fallback,
		Dotenv:    files,
		Timeout:   o.Timeout,
		Log:       log,
	}
	return r, nil
}

// For is a resolver of another command line (serve's servers) sharing r's
// stores and files, with a history of its own.
func (r *Resolver) For(argv []string, hide func([]redact.Secret)) (*Resolver, error) {
	if err := CheckArgs(argv, r.opts.AllowSecretArgs); err != nil {
		return nil, err
	}
	return &Resolver{opts: r.opts, argv: argv, environ: r.environ, Files: r.Files, Stores: r.Stores, Refs: r.Refs, Hide: hide, log: r.log}, nil
}

// Timeout is the per-fetch timeout, for the watchers' polls.
func (r *Resolver) Timeout() time.Duration { return r.opts.Timeout }

// Resolve reads the env files again and resolves every reference of the
// launcher's environment, the env files and the arguments. On failure the
// resolution holds the variables that resolved (check's table).
func (r *Resolver) Resolve(ctx context.Context) (*Resolution, error) {
	fileVars, err := r.envFileVars()
	if err != nil {
		return nil, err
	}
	return r.ResolveEnv(ctx, r.environ, fileVars)
}

// ResolveEnv resolves the references of environ (the child's would-be
// environment), of fileVars (variables environ does not set) and of the
// arguments, and builds the child's launch.
func (r *Resolver) ResolveEnv(ctx context.Context, environ []string, fileVars map[string]string) (*Resolution, error) {
	vars, argRefs := r.vars(environ, fileVars)
	resolved, err := r.Refs.Resolve(ctx, vars)
	r.hide(resolved)
	if err != nil {
		return &Resolution{Resolved: resolved}, err
	}
	res := &Resolution{Launch: Launch{Argv: slices.Clone(r.argv)}, Resolved: resolved}
	nvars := len(resolved) - len(argRefs)
	for j, i := range argRefs {
		res.Launch.Argv[i] = resolved[nvars+j].Value.Reveal()
	}
	res.Launch.Env = ChildEnv(environ, fileVars, resolved[:nvars], EnvOptions{Clean: r.opts.Clean, Keep: r.opts.Keep})
	return res, nil
}

// Vars are the variables of environ and fileVars (those environ does not
// set) and the arguments whose values hold references.
func (r *Resolver) Vars(environ []string, fileVars map[string]string) []providers.Var {
	vars, _ := r.vars(environ, fileVars)
	return vars
}

// vars are Vars, and argRefs the indexes in argv of the arguments among
// them (last).
func (r *Resolver) vars(environ []string, fileVars map[string]string) (vars []providers.Var, argRefs []int) {
	set := map[string]bool{}
	for _, kv := range slices.Sorted(slices.Values(environ)) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		set[k] = true
		if providers.HasRef(v) {
			vars = append(vars, providers.Var{Name: k, Value: v})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(fileVars)) {
		if v := fileVars[k]; !set[k] && providers.HasRef(v) {
			vars = append(vars, providers.Var{Name: k, Value: v})
		}
	}
	for i, arg := range r.argv {
		if providers.HasRef(arg) {
			argRefs = append(argRefs, i)
			vars = append(vars, providers.Var{Name: fmt.Sprintf("argument %d", i), Value: arg})
		}
	}
	return vars, argRefs
}

// Close ends what the stores started (Vault's token renewal).
func (r *Resolver) Close() { providers.Close(r.Stores) }

// envFileVars are the variables of --env-file. Without the flag, ./.env
// only answers lookups: its variables are not all handed to the child.
func (r *Resolver) envFileVars() (map[string]string, error) {
	if len(r.opts.EnvFiles) == 0 {
		return nil, nil
	}
	vars, err := r.Files.Vars()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, providers.Errorf(providers.ErrConfig, "--env-file: %w", err)
	case err != nil:
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	return vars, nil
}

// historyBytes bounds the old values kept as targets (each costs the
// redactor about nine times its size): rotations of a few dozen values an
// hour for a year stay below it.
const historyBytes = 1 << 20

// hide makes every resolved value a redaction target: each variable's whole
// value and each reference's value inside it, with those of every earlier
// resolution.
func (r *Resolver) hide(resolved []providers.Resolved) {
	var now []redact.Secret
	for _, res := range resolved {
		var refs []string
		for _, src := range res.Sources {
			if v := src.Value.Reveal(); v != "" {
				refs = append(refs, v)
			}
		}
		now = append(now, redact.Targets(res.Name, res.Value.Reveal(), refs)...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remember(now)
	if r.Hide != nil {
		r.Hide(slices.Concat(now, r.history))
	}
	for _, sec := range now {
		if sec.Value != "" && len(sec.Value) < redact.MinLen && !r.warnedShort[sec.Name] && r.log != nil {
			r.log.Warn("value too short to redact from output", "variable", sec.Name, "min_length", redact.MinLen)
			if r.warnedShort == nil {
				r.warnedShort = map[string]bool{}
			}
			r.warnedShort[sec.Name] = true // once, not at every rotation
		}
	}
}

// remember adds the targets not yet in the history; past historyBytes the
// oldest go, with a warning once. Call it with r.mu held.
func (r *Resolver) remember(targets []redact.Secret) {
	for _, t := range targets {
		if slices.ContainsFunc(r.history, func(h redact.Secret) bool { return h.Value == t.Value }) {
			continue
		}
		r.history = append(r.history, t)
		r.historySize += len(t.Value)
	}
	for r.historySize > historyBytes {
		if !r.warnedHistory && r.log != nil {
			r.log.Warn("too many rotated values to keep redacting them all; the oldest are no longer hidden", "kept_bytes", historyBytes)
			r.warnedHistory = true
		}
		r.historySize -= len(r.history[0].Value)
		r.history = r.history[1:]
	}
}
