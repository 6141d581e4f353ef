package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-secrets/mcp-secrets/audit"
	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
	"github.com/mcp-secrets/mcp-secrets/audit/wrap"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

type wrapFlags struct {
	to     string
	dryRun bool
	yes    bool
}

func (a *app) wrapCmd() *cobra.Command {
	var f wrapFlags
	cmd := &cobra.Command{
		Use:   "wrap --to TARGET [--dry-run] [--yes] CONFIG",
		Short: "Move the plaintext secrets of an MCP client config into a secrets store, and reference them",
		Long: `Wrap stores the plaintext secrets of each server of CONFIG (those scan
finds in env, args, headers and url) as one secret per server, a JSON
object with a key per variable, and rewrites CONFIG: each value becomes its
reference, and each server starts through mcp-secrets run (this binary's
absolute path, as clients start servers with a minimal PATH). A remote
server (url, with headers) becomes a stdio entry running mcp-secrets
connect: its headers become --header arguments and its URL the last one,
each secret in them a reference that connect resolves itself (the text
around it, such as "Bearer ", stays). An entry that says it speaks the
HTTP+SSE transport (type "sse"; Gemini CLI's url) is left alone, as
connect speaks Streamable HTTP. Everything else in CONFIG stays as it was,
comments included; the file is replaced atomically and no copy of the old
one is left. Servers already wrapped are left alone.

TARGET is one of
  aws:PREFIX           AWS Secrets Manager secret PREFIX/SERVER
  vault:MOUNT/PREFIX   Vault KV (v1 or v2) secret MOUNT/PREFIX/SERVER
  azure:VAULT/PREFIX   Azure Key Vault secret PREFIX-SERVER in VAULT
  keychain:SERVICE     OS keychain item SERVICE/SERVER (the server's name is the account)
  dotenv:FILE          variables appended to FILE (created with mode 0600),
                       read with run --env-file FILE; a variable another
                       server's value has already, and a header's or URL's
                       secret, takes the server's name (SENTRY_TOKEN)

It shows the change as a diff, values masked, and asks before doing it
(--yes does not ask, --dry-run only shows). If storing fails, CONFIG is left
as it was and the secrets stored before the failure are named. Afterwards
it resolves every new reference and checks it gives the value it replaced.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.wrap(cmd.Context(), &f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "where the secrets go: aws:PREFIX, vault:MOUNT/PREFIX, azure:VAULT/PREFIX, keychain:SERVICE or dotenv:FILE")
	fl.BoolVar(&f.dryRun, "dry-run", false, "show the change, store and rewrite nothing")
	fl.BoolVar(&f.yes, "yes", false, "do not ask for confirmation")
	return cmd
}

func (a *app) wrap(ctx context.Context, f *wrapFlags, path string) error {
	if f.to == "" {
		return usageError{errors.New("wrap: --to is required")}
	}
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	target, err := wrap.ParseTarget(f.to, dir)
	if err != nil {
		return usageError{err}
	}
	data, err := readConfig(path)
	if err != nil {
		return err
	}
	cfg, err := mcpconfig.Parse(path, data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	d, err := rules.New()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("the path of mcp-secrets itself: %w", err)
	}
	var existing map[string]string
	if target.Provider == "dotenv" {
		existing, err = dotenv.ReadFile(target.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	plan, err := wrap.New(cfg, audit.Hits(d, cfg), target, self, existing)
	if err != nil {
		return err
	}
	// From here on every value wrap moves is redacted from all it prints.
	var secrets []redact.Secret
	for _, s := range plan.Servers {
		for k, v := range s.Values {
			secrets = append(secrets, redact.Secret{Name: s.Name + "." + k, Value: v})
		}
	}
	a.hide("wrap", secrets)
	out := redact.NewWriter(a.stdout, a.redact, false)
	defer out.Flush()

	for _, n := range plan.Notes {
		fmt.Fprintf(a.stderr, "mcp-secrets: note: %s\n", n)
	}
	if plan.Count() == 0 {
		fmt.Fprintf(a.stderr, "mcp-secrets: nothing to wrap in %s\n", path)
		return nil
	}
	io.WriteString(out, plan.Diff())
	out.Flush()
	for _, s := range plan.Servers {
		if s.SecretArgs {
			fmt.Fprintf(a.stderr, "mcp-secrets: warning: %s: a secret is an argument of the server: it stays one, as a reference, so the server runs with --allow-secret-args and every user of this machine can read the value in /proc/PID/cmdline while it runs; prefer an environment variable if the server takes one\n", s.Name)
		}
	}
	if f.dryRun {
		fmt.Fprintf(a.stderr, "mcp-secrets: dry run: nothing stored, %s unchanged\n", path)
		return nil
	}
	if !f.yes && !a.confirm(fmt.Sprintf("Store %d %s of %d %s in %s and rewrite %s?", plan.Count(), plural(plan.Count(), "value"), len(plan.Servers), plural(len(plan.Servers), "server"), target, path)) {
		fmt.Fprintf(a.stderr, "mcp-secrets: nothing stored, %s unchanged\n", path)
		return exitError{1}
	}

	var paths []string
	if target.Provider == "dotenv" {
		paths = []string{target.Path}
	}
	files, err := dotenv.NewFiles(paths...)
	if err != nil {
		return err
	}
	provs := a.providers(files)
	defer providers.Close(provs)
	store, ok := provs[target.Provider].(providers.Writer)
	if !ok {
		return providers.Errorf(providers.ErrConfig, "provider %s cannot store secrets in this build", target.Provider)
	}
	stored, err := plan.Store(ctx, store, provs[target.Provider])
	for _, s := range stored {
		fmt.Fprintf(out, "stored %s\n", s)
	}
	if err != nil {
		already := "nothing was stored"
		if len(stored) > 0 {
			already = "already stored: " + strings.Join(stored, ", ")
		}
		return fmt.Errorf("%w\n%s unchanged; %s", err, path, already)
	}
	if err := wrap.WriteFile(path, plan.Rewritten()); err != nil {
		return fmt.Errorf("rewriting %s: %w (the secrets are stored: %s)", path, err, strings.Join(stored, ", "))
	}
	fmt.Fprintf(out, "rewrote %s\n", path)

	r := &providers.Resolver{Providers: provs, Fallback: providers.FallbackOff, Timeout: 30 * time.Second, Log: a.log}
	checked, err := plan.Verify(ctx, r)
	if err != nil {
		return fmt.Errorf("checking the new references: %w", err)
	}
	for _, c := range checked {
		fmt.Fprintf(out, "check: %s\n", c)
	}
	return nil
}

// readConfig reads the config wrap rewrites: a regular file of at most
// audit.MaxConfig bytes.
func readConfig(path string) ([]byte, error) {
	data, err := file.Read(path, audit.MaxConfig)
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, providers.Errorf(providers.ErrNotFound, "%s does not exist", path)
	case errors.Is(err, file.ErrTooLarge):
		return nil, providers.Errorf(providers.ErrMalformed, "%w", err)
	case errors.Is(err, fs.ErrPermission):
		return nil, providers.Errorf(providers.ErrDenied, "%w", err)
	}
	return nil, providers.Errorf(providers.ErrConfig, "%w", err)
}

// confirm asks a yes/no question on stderr and reads the answer from stdin.
func (a *app) confirm(question string) bool {
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
