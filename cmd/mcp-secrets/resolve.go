package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
	"github.com/mcp-secrets/mcp-secrets/providers/env"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
	"github.com/mcp-secrets/mcp-secrets/redact"
	"github.com/mcp-secrets/mcp-secrets/rotation"
)

// resolveFlags are the flags of every command that resolves references.
type resolveFlags struct {
	envFiles        []string
	defaultProvider string
	fallback        string
	timeout         time.Duration
	keepEnv         []string
	cleanEnv        bool
	allowSecretArgs bool
}

func (f *resolveFlags) register(fs *pflag.FlagSet, a *app, fallback providers.Fallback) {
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "dotenv `file` of variables for the child (values may be references); repeatable, later files win; default for lookups: ./.env")
	fs.StringVar(&f.defaultProvider, "default-provider", cmp.Or(a.getenv("MCP_SECRETS_DEFAULT_PROVIDER"), "dotenv"), "provider of references that name none (env MCP_SECRETS_DEFAULT_PROVIDER)")
	fs.StringVar(&f.fallback, "fallback", cmp.Or(a.getenv("MCP_SECRETS_FALLBACK"), string(fallback)), "auto: providers not configured here take the value from the dotenv file; off; only: never contact a provider (env MCP_SECRETS_FALLBACK)")
	durationVar(fs, &f.timeout, "timeout", 10*time.Second, "timeout of each fetch from a provider")
	fs.StringArrayVar(&f.keepEnv, "keep-env", nil, "pass this `variable` of the launcher to the child even if it is a provider credential; repeatable")
	fs.BoolVar(&f.cleanEnv, "clean-env", false, "start the child's environment empty, plus --keep-env names, --env-file variables and resolved references")
	fs.BoolVar(&f.allowSecretArgs, "allow-secret-args", false, "allow references in the command's arguments (visible to every user in /proc/PID/cmdline)")
}

// session holds what resolution needs, and can resolve again after a change.
type session struct {
	a             *app
	flags         *resolveFlags
	argv          []string
	files         *dotenv.Files
	stores        map[string]providers.Provider // as built; the resolver may read through a cache
	resolver      *providers.Resolver
	history       []redact.Secret // every value resolved so far: they stay hidden
	historySize   int
	warnedShort   map[string]bool // variables said to be too short to redact
	warnedHistory bool
	owner         string // whose values these are, among those the output hides (serve: a server)
}

func (a *app) newSession(f *resolveFlags, argv []string) (*session, error) {
	fb, err := providers.ParseFallback(f.fallback)
	if err != nil {
		return nil, usageError{err}
	}
	if err := injector.CheckArgs(argv, f.allowSecretArgs); err != nil {
		return nil, err
	}
	paths := f.envFiles
	if len(paths) == 0 {
		paths = []string{".env"}
	}
	files, err := dotenv.NewFiles(paths...)
	if err != nil {
		return nil, err
	}
	s := &session{a: a, flags: f, argv: argv, files: files, stores: a.providers(files)}
	s.resolver = &providers.Resolver{
		Providers: s.stores,
		Default:   f.defaultProvider,
		Fallback:  fb,
		Dotenv:    files,
		Timeout:   f.timeout,
		Log:       a.log,
	}
	return s, nil
}

// providers are every provider by name. Constructors are cheap: each cloud
// provider builds its SDK client on first use, so a launch that needs none
// pays nothing for it.
func (a *app) providers(files *dotenv.Files) map[string]providers.Provider {
	environ := map[string]string{}
	for _, kv := range a.environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			environ[k] = v
		}
	}
	return map[string]providers.Provider{
		"env":    env.Provider(environ),
		"dotenv": files,
		"file":   file.Provider{},
		"aws":    a.awsProvider(),
		"vault":  a.vaultProvider(),
		"azure":  a.azureProvider(),
	}
}

// resolve reads the env files again and resolves every reference of the
// launcher's environment, the env files and the arguments. The values it
// returns are redacted from the launcher's output from then on. On failure
// the resolution holds only the variables that resolved.
func (s *session) resolve(ctx context.Context) (*rotation.Resolution, error) {
	fileVars, err := s.envFileVars()
	if err != nil {
		return nil, err
	}
	return s.resolveEnv(ctx, s.a.environ, fileVars)
}

// resolveEnv resolves the references of environ (the child's would-be
// environment), of fileVars (variables environ does not set) and of the
// arguments, and builds the child's launch.
func (s *session) resolveEnv(ctx context.Context, environ []string, fileVars map[string]string) (*rotation.Resolution, error) {
	vars, argRefs := s.vars(environ, fileVars)
	resolved, err := s.resolver.Resolve(ctx, vars)
	s.redactAll(resolved)
	if err != nil {
		return &rotation.Resolution{Resolved: resolved}, err // what did resolve, for check's table
	}
	r := &rotation.Resolution{Launch: injector.Launch{Argv: slices.Clone(s.argv)}, Resolved: resolved}
	nvars := len(resolved) - len(argRefs)
	for j, i := range argRefs {
		r.Launch.Argv[i] = resolved[nvars+j].Value.Reveal()
	}
	r.Launch.Env = injector.ChildEnv(environ, fileVars, resolved[:nvars], injector.EnvOptions{Clean: s.flags.cleanEnv, Keep: s.flags.keepEnv})
	return r, nil
}

// vars are the variables whose values hold references: environ's, then
// those of fileVars that environ does not set, then the arguments' (argRefs
// are their indexes in argv).
func (s *session) vars(environ []string, fileVars map[string]string) (vars []providers.Var, argRefs []int) {
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
	for i, arg := range s.argv {
		if providers.HasRef(arg) {
			argRefs = append(argRefs, i)
			vars = append(vars, providers.Var{Name: fmt.Sprintf("argument %d", i), Value: arg})
		}
	}
	return vars, argRefs
}

// close ends what the providers started (Vault's token renewal).
func (s *session) close() {
	for _, p := range s.stores {
		if c, ok := p.(io.Closer); ok {
			c.Close()
		}
	}
}

// envFileVars are the variables of --env-file. Without the flag, ./.env
// only answers lookups: its variables are not all handed to the child.
func (s *session) envFileVars() (map[string]string, error) {
	if len(s.flags.envFiles) == 0 {
		return nil, nil
	}
	vars, err := s.files.Vars()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, providers.Errorf(providers.ErrConfig, "--env-file: %w", err)
	case err != nil:
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	return vars, nil
}

// redactAll makes every resolved value a target of the launcher's
// redaction: each variable's whole value and each reference's value inside
// it. Values of earlier resolutions stay targets for as long as the
// launcher runs: an old child may still print them, and a revoked key is
// still a key.
func (s *session) redactAll(resolved []providers.Resolved) {
	var now []redact.Secret
	for _, r := range resolved {
		var refs []string
		for _, src := range r.Sources {
			if v := src.Value.Reveal(); v != "" {
				refs = append(refs, v)
			}
		}
		now = append(now, redact.Targets(r.Name, r.Value.Reveal(), refs)...)
	}
	s.remember(now)
	s.a.hide(s.owner, slices.Concat(now, s.history))
	for _, sec := range now {
		if sec.Value != "" && len(sec.Value) < redact.MinLen && !s.warnedShort[sec.Name] {
			s.a.log.Warn("value too short to redact from output", "variable", sec.Name, "min_length", redact.MinLen)
			if s.warnedShort == nil {
				s.warnedShort = map[string]bool{}
			}
			s.warnedShort[sec.Name] = true // once, not at every rotation
		}
	}
}

// historyBytes bounds the old values kept as targets (each costs the
// redactor about nine times its size): rotations of a few dozen values an
// hour for a year stay below it.
const historyBytes = 1 << 20

// remember adds the targets not yet in the history; past historyBytes the
// oldest go, with a warning once.
func (s *session) remember(targets []redact.Secret) {
	for _, t := range targets {
		if slices.ContainsFunc(s.history, func(h redact.Secret) bool { return h.Value == t.Value }) {
			continue
		}
		s.history = append(s.history, t)
		s.historySize += len(t.Value)
	}
	for s.historySize > historyBytes {
		if !s.warnedHistory {
			s.a.log.Warn("too many rotated values to keep redacting them all; the oldest are no longer hidden", "kept_bytes", historyBytes)
			s.warnedHistory = true
		}
		s.historySize -= len(s.history[0].Value)
		s.history = s.history[1:]
	}
}
