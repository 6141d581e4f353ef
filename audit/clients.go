package audit

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Location is one config file an MCP client reads, under one of a few base
// directories of the user's.
type Location struct {
	Client string
	GOOS   string // "" for every OS
	Base   Base
	Path   string // under Base, with slashes
}

// Base is a directory a client's config is under.
type Base string

const (
	Home       Base = "~"                                // $HOME (%USERPROFILE%)
	XDGConfig  Base = "$XDG_CONFIG_HOME"                 // default ~/.config
	AppSupport Base = "~/Library/Application Support"    // macOS
	AppData    Base = "%APPDATA%"                        // Windows
	CodexHome  Base = "$CODEX_HOME"                      // default ~/.codex
	Project    Base = "the scanned directory, any depth" // project configs, and .env files
)

// Locations is the table scan reads with no path: every MCP client config
// it knows, per OS. Project configs (Base Project) are looked for in the
// directory tree scanned, like .env files.
func Locations() []Location {
	return []Location{
		{"Claude Desktop", "darwin", AppSupport, "Claude/claude_desktop_config.json"},
		{"Claude Desktop", "windows", AppData, "Claude/claude_desktop_config.json"},
		{"Claude Desktop", "linux", XDGConfig, "Claude/claude_desktop_config.json"},
		{"Claude Code (user and per-project servers)", "", Home, ".claude.json"},
		{"Claude Code (project)", "", Project, ".mcp.json"},
		{"Cursor", "", Home, ".cursor/mcp.json"},
		{"Cursor (project)", "", Project, ".cursor/mcp.json"},
		{"VS Code", "darwin", AppSupport, "Code/User/mcp.json"},
		{"VS Code", "windows", AppData, "Code/User/mcp.json"},
		{"VS Code", "linux", XDGConfig, "Code/User/mcp.json"},
		{"VS Code (user settings)", "darwin", AppSupport, "Code/User/settings.json"},
		{"VS Code (user settings)", "windows", AppData, "Code/User/settings.json"},
		{"VS Code (user settings)", "linux", XDGConfig, "Code/User/settings.json"},
		{"VS Code (project)", "", Project, ".vscode/mcp.json"},
		{"Windsurf", "", Home, ".codeium/windsurf/mcp_config.json"},
		{"Gemini CLI", "", Home, ".gemini/settings.json"},
		{"Gemini CLI (project)", "", Project, ".gemini/settings.json"},
		{"Codex", "", CodexHome, "config.toml"},
	}
}

// LocationTable is Locations as text, for the command's help.
func LocationTable() string {
	var b strings.Builder
	for _, l := range Locations() {
		fmt.Fprintf(&b, "  %-44s %-8s %s\n", l.Client, cmp.Or(l.GOOS, "all"), joinOS(l.GOOS, string(l.Base), l.Path))
	}
	return b.String()
}

// File is where the location is on goos, with the user's environment; ""
// if the environment does not say.
func (l Location) File(getenv func(string) string, goos string) string {
	dir := l.Base.dir(getenv, goos)
	if dir == "" {
		return ""
	}
	return joinOS(goos, dir, l.Path)
}

// dir resolves a base directory from the environment; "" if it cannot.
func (b Base) dir(getenv func(string) string, goos string) string {
	home := getenv("HOME")
	if goos == "windows" {
		home = cmp.Or(getenv("USERPROFILE"), home)
	}
	under := func(path string) string {
		if home == "" {
			return ""
		}
		return joinOS(goos, home, path)
	}
	switch b {
	case Home:
		return home
	case XDGConfig:
		return cmp.Or(getenv("XDG_CONFIG_HOME"), under(".config"))
	case AppSupport:
		return under("Library/Application Support")
	case AppData:
		return cmp.Or(getenv("APPDATA"), under("AppData/Roaming"))
	case CodexHome:
		return cmp.Or(getenv("CODEX_HOME"), under(".codex"))
	}
	return ""
}

// joinOS joins a directory and a slash-separated path under it with the
// separator of goos, which need not be this machine's (filepath's is), so
// that every OS's layout can be checked anywhere.
func joinOS(goos, dir, path string) string {
	if goos == "windows" {
		return strings.TrimRight(dir, `\/`) + `\` + strings.ReplaceAll(path, "/", `\`)
	}
	return strings.TrimRight(dir, "/") + "/" + path
}

// ConfigNames are the names of the files MCP clients keep servers in.
// scan reads a file by one of them wherever it is in a tree, as the
// pre-commit hook matches them: a project's CI and its hook give one
// answer.
var ConfigNames = []string{
	"claude_desktop_config.json", // Claude Desktop
	".claude.json",               // Claude Code (user)
	".mcp.json",                  // Claude Code (project)
	"mcp.json",                   // Cursor, VS Code
	"mcp_config.json",            // Windsurf
	"settings.json",              // Gemini CLI, VS Code's user settings
	"config.toml",                // Codex
}

// isConfigName reports whether a file name is one of ConfigNames.
func isConfigName(name string) bool { return slices.Contains(ConfigNames, name) }

// shared reports whether a config path has a name other programs use too
// (settings.json, config.toml) and is not where a client keeps it: such a
// file is a client config only if it holds a list of servers.
func shared(path string) bool {
	p := filepath.ToSlash(path)
	switch filepath.Base(p) {
	case "settings.json":
		return !strings.HasSuffix(p, "/.gemini/settings.json") && !strings.HasSuffix(p, "/Code/User/settings.json")
	case "config.toml":
		return !strings.HasSuffix(p, "/.codex/config.toml")
	}
	return false
}

// isDotenv reports whether a file name is a .env file: .env, .env.local,
// .env.production, prod.env (not .envrc, which is shell).
func isDotenv(name string) bool {
	ext := filepath.Ext(name)
	return name == ".env" || ext == ".env" || strings.HasPrefix(name, ".env.") && ext != ".json" && ext != ".toml"
}
