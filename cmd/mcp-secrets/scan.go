package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/mcp-secrets/mcp-secrets/audit"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
)

// scanLocations is audit.LocationTable(), written out so that building the
// command costs nothing at each launch; a test keeps the two the same.
const scanLocations = `  Claude Desktop                               darwin   ~/Library/Application Support/Claude/claude_desktop_config.json
  Claude Desktop                               windows  %APPDATA%\Claude\claude_desktop_config.json
  Claude Desktop                               linux    $XDG_CONFIG_HOME/Claude/claude_desktop_config.json
  Claude Code (user and per-project servers)   all      ~/.claude.json
  Claude Code (project)                        all      the scanned directory, any depth/.mcp.json
  Cursor                                       all      ~/.cursor/mcp.json
  Cursor (project)                             all      the scanned directory, any depth/.cursor/mcp.json
  VS Code                                      darwin   ~/Library/Application Support/Code/User/mcp.json
  VS Code                                      windows  %APPDATA%\Code\User\mcp.json
  VS Code                                      linux    $XDG_CONFIG_HOME/Code/User/mcp.json
  VS Code (user settings)                      darwin   ~/Library/Application Support/Code/User/settings.json
  VS Code (user settings)                      windows  %APPDATA%\Code\User\settings.json
  VS Code (user settings)                      linux    $XDG_CONFIG_HOME/Code/User/settings.json
  VS Code (project)                            all      the scanned directory, any depth/.vscode/mcp.json
  Windsurf                                     all      ~/.codeium/windsurf/mcp_config.json
  Gemini CLI                                   all      ~/.gemini/settings.json
  Gemini CLI (project)                         all      the scanned directory, any depth/.gemini/settings.json
  Codex                                        all      $CODEX_HOME/config.toml
`

func (a *app) scanCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "scan [--format text|json|sarif] [PATH...]",
		Short: "Find plaintext secrets in MCP client configs and .env files",
		Long: `Scan finds plaintext secrets in the env, args, headers and url of MCP server
entries, and .env files with secrets that git tracks, that no .gitignore
covers, or that other users can read. Values are never shown: at most their
first 4 characters and their length.

With no PATH it reads every client config below that exists (~ is
%USERPROFILE% on Windows; $XDG_CONFIG_HOME defaults to ~/.config, $CODEX_HOME
to ~/.codex, %APPDATA% to ~\AppData\Roaming), and the working directory's
tree (6 levels deep, without node_modules and .git): every .env file and
every file by a name a client keeps servers in, wherever it is
(claude_desktop_config.json, .claude.json, .mcp.json, mcp.json,
mcp_config.json, settings.json, config.toml), the names the pre-commit hook
matches. A PATH that is a directory is searched the same way; a file is
read as a config (.toml: Codex) or, named .env*, as a .env file. A
settings.json or config.toml is another program's, and skipped, unless it
holds a list of MCP servers (or is where Gemini CLI, VS Code or Codex keep
theirs).

` + scanLocations + `
Template placeholders (<your-github-token>), vendors' documented example
keys (AWS's ...EXAMPLE) and references are not findings; a secret that
several rules match is one finding, the strongest rule's. A value marked
mcp-secrets:allow in a comment on its line is a deliberate fake.

Only regular files are read: devices, FIFOs and sockets are skipped, and so
are symlinks found in a tree that lead out of it; the summary names each
file skipped, and why. A config over ` + strconv.Itoa(audit.MaxConfig>>20) + ` MiB or a .env file over ` + strconv.Itoa(dotenv.MaxFile>>20) + ` MiB is not read
and is an error, as is a file that does not parse or a config whose
servers are not of a config's shape (mcpServers not an object, ...).

Exit status: 0 when nothing is found, 1 when something is, 65 when a file
could not be read or parsed (the others are still scanned), 64 on bad usage.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" && format != "sarif" {
				return usageError{fmt.Errorf("--format %q: want text, json or sarif", format)}
			}
			d, err := rules.New()
			if err != nil {
				return err
			}
			dir, err := os.Getwd()
			if err != nil {
				return err
			}
			s := &audit.Scanner{Detector: d, Getenv: a.getenv, GOOS: runtime.GOOS, Dir: dir}
			r := s.Scan(cmd.Context(), args)
			switch format {
			case "json":
				err = audit.WriteJSON(a.stdout, r.Findings)
			case "sarif":
				err = audit.WriteSARIF(a.stdout, r.Findings, version)
			default:
				err = audit.WriteText(a.stdout, r.Findings)
			}
			if err != nil {
				return err
			}
			return a.scanSummary(r)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, json or sarif (SARIF 2.1.0, for code scanning)")
	return cmd
}

// scanSummary reports errors and notes on stderr and ends with scan's exit
// status.
func (a *app) scanSummary(r audit.Report) error {
	for _, err := range r.Errors {
		fmt.Fprintf(a.stderr, "mcp-secrets: %v\n", err)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(a.stderr, "mcp-secrets: note: %s\n", n)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(a.stderr, "mcp-secrets: skipped %s: %s\n", s.File, s.Reason)
	}
	files := map[string]bool{}
	for _, f := range r.Findings {
		files[f.File] = true
	}
	skipped := ""
	if len(r.Skipped) > 0 {
		skipped = fmt.Sprintf(", %d skipped", len(r.Skipped))
	}
	switch {
	case len(r.Findings) > 0:
		fmt.Fprintf(a.stderr, "mcp-secrets: %d %s in %d of %d files scanned%s\n", len(r.Findings), plural(len(r.Findings), "finding"), len(files), r.Files, skipped)
	default:
		fmt.Fprintf(a.stderr, "mcp-secrets: no plaintext secrets in %d files scanned%s\n", r.Files, skipped)
	}
	switch {
	case len(r.Errors) > 0:
		return exitError{exitDataErr}
	case len(r.Findings) > 0:
		return exitError{1}
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
