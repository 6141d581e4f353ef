package main

import (
	"cmp"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
	"github.com/mcp-secrets/mcp-secrets/providers/env"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
	"github.com/mcp-secrets/mcp-secrets/redact"
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

// newResolver is the resolver of argv that f configures, whose values the
// launcher's output hides (under owner: serve has one per server).
func (a *app) newResolver(f *resolveFlags, argv []string, owner string) (*launch.Resolver, error) {
	fb, err := providers.ParseFallback(f.fallback)
	if err != nil {
		return nil, usageError{err}
	}
	o := launch.Options{
		EnvFiles:        f.envFiles,
		Default:         f.defaultProvider,
		Fallback:        fb,
		Timeout:         f.timeout,
		Keep:            f.keepEnv,
		Clean:           f.cleanEnv,
		AllowSecretArgs: f.allowSecretArgs,
	}
	r, err := launch.New(o, argv, a.environ, a.providers, a.log)
	if err != nil {
		return nil, err
	}
	r.Hide = func(s []redact.Secret) { a.hide(owner, s) }
	return r, nil
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

		"keychain": a.keychainProvider(),
	}
}
