package auditest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/pelletier/go-toml/v2"
	"github.com/tailscale/hujson"
)

// Entry is one server as a client reads it: stdio (Command) or remote
// (URL).
type Entry struct {
	Command string
	Args    []string
	Env     map[string]string
	URL     string
	Headers map[string]string
}

// Client is one MCP client's config format, read as that client reads it:
// its key for the list of servers and the fields its entries may have,
// decoded strictly, so a field it does not know (or a stdio entry that
// still has a URL) is an error.
type Client struct {
	Name  string
	Parse func(data []byte) (map[string]Entry, error)
}

// Clients are the formats of the clients mcp-secrets documents.
func Clients() []Client {
	return []Client{
		{"Claude Desktop", jsonClient("mcpServers", false, desktopFields, func(e *entry) error {
			return need(e.Command != "" && e.URL == "", "a command (Claude Desktop's config has no remote servers)")
		})},
		{"Claude Code", jsonClient("mcpServers", false, codeFields, func(e *entry) error {
			switch e.Type {
			case "", "stdio":
				return need(e.Command != "" && e.URL == "" && e.Headers == nil, "stdio: a command, no url or headers")
			case "http", "sse":
				return need(e.URL != "" && e.Command == "", e.Type+": a url, no command")
			}
			return fmt.Errorf("type %q", e.Type)
		})},
		{"Cursor", jsonClient("mcpServers", false, cursorFields, func(e *entry) error {
			return need((e.Command != "") != (e.URL != ""), "a command or a url")
		})},
		{"VS Code", jsonClient("servers", true, vscodeFields, func(e *entry) error {
			switch e.Type {
			case "", "stdio":
				return need(e.Command != "" && e.URL == "", "stdio: a command, no url")
			case "http", "sse":
				return need(e.URL != "" && e.Command == "", e.Type+": a url")
			}
			return fmt.Errorf("type %q", e.Type)
		})},
		{"Windsurf", jsonClient("mcpServers", false, windsurfFields, func(e *entry) error {
			return need((e.Command != "") != (e.ServerURL != ""), "a command or a serverUrl")
		})},
		{"Gemini CLI", jsonClient("mcpServers", true, geminiFields, func(e *entry) error {
			n := 0
			for _, s := range []string{e.Command, e.URL, e.HTTPURL} {
				if s != "" {
					n++
				}
			}
			switch {
			case n != 1:
				return errors.New("exactly one of command, url and httpUrl")
			case e.Type != "" && e.Type != "sse" && e.Type != "http":
				return fmt.Errorf("type %q (sse or http only)", e.Type)
			case e.Command != "" && e.Type != "":
				return errors.New("a stdio entry with a type")
			}
			return nil
		})},
		{"Codex", parseCodex},
	}
}

func need(ok bool, what string) error {
	if !ok {
		return errors.New("want " + what)
	}
	return nil
}

// entry is every field of every JSON client; each client's check says
// which it may have (fields sets what was there).
type entry struct {
	Type          string            `json:"type"`
	Command       string            `json:"command"`
	Args          []string          `json:"args"`
	Env           map[string]string `json:"env"`
	EnvFile       string            `json:"envFile"`
	Cwd           string            `json:"cwd"`
	URL           string            `json:"url"`
	HTTPURL       string            `json:"httpUrl"`
	ServerURL     string            `json:"serverUrl"`
	Headers       map[string]string `json:"headers"`
	Timeout       int               `json:"timeout"`
	Trust         bool              `json:"trust"`
	Description   string            `json:"description"`
	Disabled      bool              `json:"disabled"`
	IncludeTools  []string          `json:"includeTools"`
	ExcludeTools  []string          `json:"excludeTools"`
	DisabledTools []string          `json:"disabledTools"`
}

// The fields each JSON client knows in a server entry.
var (
	desktopFields  = []string{"command", "args", "env"}
	codeFields     = []string{"type", "command", "args", "env", "url", "headers"}
	cursorFields   = []string{"type", "command", "args", "env", "envFile", "url", "headers"}
	vscodeFields   = []string{"type", "command", "args", "env", "envFile", "cwd", "url", "headers"}
	windsurfFields = []string{"command", "args", "env", "serverUrl", "headers", "disabled", "disabledTools"}
	geminiFields   = []string{"type", "command", "args", "env", "cwd", "url", "httpUrl", "headers", "timeout", "trust", "description", "includeTools", "excludeTools"}
)

// jsonClient reads the servers under list, whose entries may have fields;
// jsonc allows comments and trailing commas (VS Code, Gemini CLI). check
// says whether an entry is one the client takes.
func jsonClient(list string, jsonc bool, fields []string, check func(*entry) error) func([]byte) (map[string]Entry, error) {
	return func(data []byte) (map[string]Entry, error) {
		if jsonc {
			v, err := hujson.Parse(data)
			if err != nil {
				return nil, err
			}
			v.Standardize()
			data = v.Pack()
		} else if !json.Valid(data) {
			return nil, errors.New("not valid JSON (this client reads no comments or trailing commas)")
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			return nil, err
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(top[list], &raw); err != nil || raw == nil {
			return nil, fmt.Errorf("%s: not an object of servers", list)
		}
		out := map[string]Entry{}
		for name, r := range raw {
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(r, &keys); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for k := range keys {
				if !slices.Contains(fields, k) {
					return nil, fmt.Errorf("%s: unknown field %q", name, k)
				}
			}
			var e entry
			d := json.NewDecoder(bytes.NewReader(r))
			d.DisallowUnknownFields()
			if err := d.Decode(&e); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if err := check(&e); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out[name] = Entry{Command: e.Command, Args: e.Args, Env: e.Env, URL: e.URL + e.HTTPURL + e.ServerURL, Headers: e.Headers}
		}
		return out, nil
	}
}

// codexServer is Codex's [mcp_servers.NAME]: a stdio server (command) or a
// Streamable HTTP one (url), never both.
type codexServer struct {
	Command           string            `toml:"command"`
	Args              []string          `toml:"args"`
	Env               map[string]string `toml:"env"`
	EnvVars           []string          `toml:"env_vars"`
	Cwd               string            `toml:"cwd"`
	URL               string            `toml:"url"`
	BearerTokenEnvVar string            `toml:"bearer_token_env_var"`
	HTTPHeaders       map[string]string `toml:"http_headers"`
	EnvHTTPHeaders    map[string]string `toml:"env_http_headers"`
	StartupTimeoutSec float64           `toml:"startup_timeout_sec"`
	ToolTimeoutSec    float64           `toml:"tool_timeout_sec"`
	Enabled           *bool             `toml:"enabled"`
	EnabledTools      []string          `toml:"enabled_tools"`
	DisabledTools     []string          `toml:"disabled_tools"`
}

func parseCodex(data []byte) (map[string]Entry, error) {
	var servers struct {
		MCPServers map[string]codexServer `toml:"mcp_servers"`
	}
	d := toml.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&servers); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			// Keys outside mcp_servers are Codex's other settings.
			for _, e := range sm.Errors {
				if k := e.Key(); len(k) > 0 && k[0] == "mcp_servers" {
					return nil, fmt.Errorf("unknown field %v", k)
				}
			}
		} else {
			return nil, err
		}
	}
	out := map[string]Entry{}
	names := make([]string, 0, len(servers.MCPServers))
	for n := range servers.MCPServers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := servers.MCPServers[n]
		switch {
		case s.Command != "" && (s.URL != "" || s.HTTPHeaders != nil || s.BearerTokenEnvVar != "" || s.EnvHTTPHeaders != nil):
			return nil, fmt.Errorf("%s: a stdio server with Streamable HTTP settings", n)
		case s.Command == "" && s.URL == "":
			return nil, fmt.Errorf("%s: neither command nor url", n)
		}
		out[n] = Entry{Command: s.Command, Args: s.Args, Env: s.Env, URL: s.URL, Headers: s.HTTPHeaders}
	}
	return out, nil
}
