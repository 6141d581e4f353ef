package sidecar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/jsonrpc"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
	"github.com/mcp-secrets/mcp-secrets/remote"
)

// Config is an mcpServers file: {"mcpServers": {NAME: {command, args, env}}},
// the shape Claude Desktop, Cursor and mcp-use read; a remote server is
// {"type": "http", "url", "headers"}, as Claude Code and VS Code write it.
type Config struct {
	Servers []ServerConfig // in the file's order
}

// ServerConfig is one server of the file: a stdio server, or a url entry.
type ServerConfig struct {
	Name    string
	Command string
	Args    []string
	Env     map[string]string // values may hold references
	// URL is a remote server's, proxied with Headers added; values may
	// hold references.
	URL     string
	Headers []remote.Header
}

// Argv is the server's command line.
func (s ServerConfig) Argv() []string { return append([]string{s.Command}, s.Args...) }

// Remote is a url entry as the remote package configures it.
func (s ServerConfig) Remote() remote.Config { return remote.Config{URL: s.URL, Headers: s.Headers} }

// MaxConfig is the largest mcpServers file: what a Kubernetes ConfigMap
// holds, and far more than any list of servers needs.
const MaxConfig = 1 << 20

// LoadConfig reads and checks an mcpServers file, a regular file of at
// most MaxConfig bytes, and finds each server's command in PATH. It
// reports every problem, one line each, with the servers that have none.
func LoadConfig(path string) (*Config, error) {
	data, err := file.Read(path, MaxConfig)
	switch {
	case errors.Is(err, file.ErrTooLarge):
		return nil, providers.Errorf(providers.ErrMalformed, "--config: %w", err)
	case errors.Is(err, fs.ErrPermission):
		return nil, providers.Errorf(providers.ErrDenied, "--config: %w", err)
	case err != nil:
		return nil, providers.Errorf(providers.ErrConfig, "--config: %w", err)
	}
	c, err := ParseConfig(path, data)
	if c == nil {
		return nil, err
	}
	errs := []error{err}
	for _, s := range c.Servers {
		if s.URL != "" {
			continue
		}
		if _, err := exec.LookPath(s.Command); err != nil {
			errs = append(errs, providers.Errorf(providers.ErrConfig, "%s: mcpServers.%s: %w", path, s.Name, err))
		}
	}
	return c, errors.Join(errs...)
}

// serverKey reports whether a server entry may have key: "type" is
// "stdio" or "http" (Claude Code and VS Code write it); Windsurf names the
// url serverUrl.
func serverKey(key string) bool {
	switch key {
	case "command", "args", "env", "type", "url", "serverUrl", "headers":
		return true
	}
	return false
}

// validName reports whether a server name is one path segment of
// /NAME/mcp: a letter or digit, then letters, digits, '.', '_' or '-'.
func validName(name string) bool {
	for i, c := range []byte(name) {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return name != ""
}

// ParseConfig checks the text of the mcpServers file named file, and
// returns its servers that have no problem. Go's encoding/json keeps the
// last of duplicate keys silently, so objects are walked member by member.
func ParseConfig(file string, data []byte) (*Config, error) {
	var errs []error
	problem := func(format string, args ...any) {
		errs = append(errs, providers.Errorf(providers.ErrMalformed, file+": "+format, args...))
	}
	if err := syntax(data); err != nil {
		problem("%v", err)
		return nil, errors.Join(errs...)
	}
	c := &Config{}
	var servers []byte
	eachMember(data, "", problem, func(key string, v []byte) {
		if key != "mcpServers" {
			problem("unknown key %q (want mcpServers)", key)
			return
		}
		servers = v
	})
	if servers == nil {
		problem("no mcpServers")
		return nil, errors.Join(errs...)
	}
	if servers[0] != '{' {
		problem("mcpServers: not an object")
		return nil, errors.Join(errs...)
	}
	eachMember(servers, "mcpServers", problem, func(name string, v []byte) {
		where := "mcpServers." + name
		if !validName(name) {
			problem("%s: the name must be letters, digits, '.', '_' or '-' (it is the path /NAME/mcp)", where)
			return
		}
		if s, ok := parseServer(where, v, problem); ok {
			s.Name = name
			c.Servers = append(c.Servers, s)
		}
	})
	if len(c.Servers) == 0 && len(errs) == 0 {
		problem("mcpServers: no servers")
	}
	return c, errors.Join(errs...)
}

func parseServer(where string, v []byte, problem func(string, ...any)) (ServerConfig, bool) {
	var s ServerConfig
	if v[0] != '{' {
		problem("%s: not an object", where)
		return s, false
	}
	ok := true
	fail := func(format string, args ...any) {
		problem(format, args...)
		ok = false
	}
	var hasCommand, hasURL, hasHeaders, stdioOnly bool
	kind := ""
	eachMember(v, where, fail, func(key string, val []byte) {
		switch {
		case !serverKey(key):
			fail("%s: unknown key %q (want command, args, env; or url, headers)", where, key)
		case key == "type":
			if json.Unmarshal(val, &kind) != nil || kind != "stdio" && kind != "http" && kind != "streamable-http" {
				fail("%s: type %s: want stdio, or http (Streamable HTTP; the older HTTP+SSE transport is not served)", where, val)
			}
		case key == "url" || key == "serverUrl":
			if hasURL {
				fail("%s: both url and serverUrl", where)
			}
			hasURL = true
			if json.Unmarshal(val, &s.URL) != nil || s.URL == "" {
				fail("%s.%s: not a non-empty string", where, key)
			}
		case key == "headers":
			hasHeaders = true
			s.Headers = parseHeaders(where+".headers", val, fail)
		case key == "command":
			hasCommand = true
			if json.Unmarshal(val, &s.Command) != nil || s.Command == "" {
				fail("%s.command: not a non-empty string", where)
			}
		case key == "args":
			stdioOnly = true
			if json.Unmarshal(val, &s.Args) != nil {
				fail("%s.args: not an array of strings", where)
			}
		case key == "env":
			stdioOnly = true
			s.Env = parseEnv(where+".env", val, fail)
		}
	})
	switch {
	case hasURL && (hasCommand || stdioOnly):
		fail("%s: a url entry has no command, args or env", where)
	case hasURL && kind == "stdio":
		fail("%s: type stdio with a url", where)
	case hasURL && s.URL != "":
		if err := s.Remote().Check(); err != nil {
			fail("%s: %v", where, err)
		}
	case hasHeaders:
		fail("%s: headers without a url", where)
	case kind == "http" || kind == "streamable-http":
		fail("%s: type %s without a url", where, kind)
	case !hasCommand:
		fail("%s: no command", where)
	}
	return s, ok
}

// parseHeaders reads a url entry's headers, in the file's order.
func parseHeaders(where string, v []byte, fail func(string, ...any)) []remote.Header {
	if v[0] != '{' {
		fail("%s: not an object", where)
		return nil
	}
	var hs []remote.Header
	eachMember(v, where, fail, func(name string, val []byte) {
		var s string
		if json.Unmarshal(val, &s) != nil {
			fail("%s.%s: not a string", where, name)
			return
		}
		hs = append(hs, remote.Header{Name: name, Value: s})
	})
	return hs
}

func parseEnv(where string, v []byte, fail func(string, ...any)) map[string]string {
	if v[0] != '{' {
		fail("%s: not an object", where)
		return nil
	}
	env := map[string]string{}
	eachMember(v, where, fail, func(name string, val []byte) {
		var s string
		switch {
		case name == "" || strings.ContainsAny(name, "=\x00"):
			fail("%s: %q is not a variable name", where, name)
		case json.Unmarshal(val, &s) != nil:
			fail("%s.%s: not a string", where, name)
		default:
			env[name] = s
		}
	})
	return env
}

// eachMember calls f with each member of the object v, refusing a key seen
// before.
func eachMember(v []byte, where string, problem func(string, ...any), f func(key string, val []byte)) {
	seen := map[string]bool{}
	_ = jsonrpc.Members(v, func(raw []byte, start, end int) {
		var key string
		if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &key) != nil {
			key = string(raw)
		}
		if seen[key] {
			if where == "" {
				problem("duplicate key %q", key)
			} else {
				problem("%s: duplicate key %q", where, key)
			}
			return
		}
		seen[key] = true
		f(key, v[start:end])
	})
}

// syntax reports a JSON syntax error with its line and column; the
// decoder's message quotes no more than one character of the file.
func syntax(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		at := int(se.Offset) // just after the bad character, or the end
		if at > 0 && at < len(data) {
			at--
		}
		line := bytes.Count(data[:at], []byte("\n")) + 1
		col := at - bytes.LastIndexByte(data[:at], '\n')
		return fmt.Errorf("line %d, column %d: %v", line, col, se)
	}
	if err != nil {
		return err
	}
	if _, ok := v.(map[string]any); !ok {
		return errors.New("not a JSON object")
	}
	return nil
}
