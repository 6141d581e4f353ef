package wrap

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Target is where wrap stores secrets.
type Target struct {
	Provider string // aws, vault, azure, keychain or dotenv
	// Path is PREFIX (aws), MOUNT/PREFIX (vault), VAULT/PREFIX (azure),
	// SERVICE (keychain), or the file, absolute (dotenv).
	Path string
}

// ParseTarget reads --to: aws:PREFIX, vault:MOUNT/PREFIX, azure:VAULT/PREFIX,
// keychain:SERVICE or dotenv:FILE (relative to dir).
func ParseTarget(s, dir string) (Target, error) {
	p, path, _ := strings.Cut(s, ":")
	if p == "dotenv" && path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		return Target{Provider: p, Path: filepath.Clean(path)}, nil
	}
	path = strings.Trim(path, "/")
	t := Target{Provider: p, Path: path}
	switch {
	case path == "":
		return Target{}, fmt.Errorf("--to %q: want aws:PREFIX, vault:MOUNT/PREFIX, azure:VAULT/PREFIX, keychain:SERVICE or dotenv:FILE", s)
	case p != "aws" && p != "vault" && p != "azure" && p != "keychain":
		return Target{}, fmt.Errorf("--to %q: unknown store %q (want aws, vault, azure, keychain or dotenv)", s, p)
	case strings.ContainsAny(path, " \t\n#?<>$"):
		return Target{}, fmt.Errorf("--to %q: the path holds a character references cannot", s)
	case p == "azure" && strings.Count(path, "/") > 1:
		return Target{}, fmt.Errorf("--to %q: want azure:VAULT/PREFIX", s)
	}
	return t, nil
}

func (t Target) String() string { return t.Provider + ":" + t.Path }

// secretName is the store's name of a server's secret: PREFIX/SERVER for
// AWS and Vault, VAULT/PREFIX-SERVER for Azure (whose names are letters,
// digits and dashes), SERVICE/SERVER for the keychain (the server is the
// item's account, which holds no "/"). "" for dotenv, which has variables,
// not secrets.
func (t Target) secretName(server string) string {
	switch t.Provider {
	case "aws":
		return t.Path + "/" + sanitize(server, "/_+=.@-")
	case "vault", "keychain":
		return t.Path + "/" + sanitize(server, "_.-")
	case "azure":
		vault, prefix, ok := strings.Cut(t.Path, "/")
		name := sanitize(server, "-")
		if ok && prefix != "" {
			name = sanitize(prefix, "-") + "-" + name
		}
		return vault + "/" + strings.Trim(name, "-")
	}
	return ""
}

// ref is the reference to key of the server's secret name.
func (t Target) ref(name, key string) providers.Ref {
	if t.Provider == "dotenv" {
		return providers.Ref{Provider: "dotenv", Path: key}
	}
	return providers.Ref{Provider: t.Provider, Path: name, Field: key}
}

// sanitize keeps letters, digits and the extra characters of s, and turns
// anything else into a dash.
func sanitize(s, extra string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(extra, r) {
			return r
		}
		return '-'
	}, s)
}

// keyName is a variable's key in the secret (its #field, or its name in a
// dotenv file): the name itself when both can carry it, else with the odd
// characters replaced.
func keyName(name string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, name)
}
