// Package audit finds plaintext secrets where MCP users keep them: the
// server entries of MCP client configs (env, args, headers, url) and .env
// files that git tracks, that no .gitignore covers, or that other users can
// read. Findings never hold a value: at most its first 4 characters and
// its length.
//
// Nothing here runs, and nothing heavy is built, until a scan starts: the
// launcher links this package too, and pays for every package init at each
// MCP server start.
package audit

import (
	"cmp"
	"slices"

	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Finding is one plaintext secret, or one exposed .env file.
type Finding struct {
	File     string         `json:"file"`
	Line     int            `json:"line"`
	Location string         `json:"location"` // mcpServers.github.env.GITHUB_TOKEN, servers.x.args[2], .env:3, or the file
	Rule     string         `json:"rule"`
	Severity rules.Severity `json:"severity"`
	Masked   string         `json:"masked"` // "" for a file's own finding
	Message  string         `json:"message"`
}

// Mask shows a secret's size and, for long ones, its first characters:
// never more than 4.
func Mask(secret string) string { return providers.NewSecret(secret, "").Masked() }

// Field is the part of a server entry a value is in.
type Field string

const (
	Env     Field = "env"
	Args    Field = "args"
	Headers Field = "headers"
	URL     Field = "url"
)

// Hit is one secret in a server entry's value.
type Hit struct {
	Server *mcpconfig.Server
	Field  Field
	Name   string // the variable or header; "" for args and url
	Index  int    // the argument's index
	Value  *mcpconfig.String
	Match  rules.Match
}

// Secret is the plaintext the hit found.
func (h Hit) Secret() string { return h.Value.Value[h.Match.Start:h.Match.End] }

// Finding describes the hit, masked.
func (h Hit) Finding(file string) Finding {
	return Finding{
		File:     file,
		Line:     h.Value.Line,
		Location: h.Value.Location,
		Rule:     h.Match.Rule,
		Severity: h.Match.Severity,
		Masked:   Mask(h.Secret()),
		Message:  h.Match.Description,
	}
}

// Hits finds the secrets in a config's server entries. An argument that
// follows a flag (--api-key VALUE) is read under the flag's name, as a
// variable would be.
func Hits(d *rules.Detector, f *mcpconfig.File) []Hit {
	var hits []Hit
	find := func(srv *mcpconfig.Server, field Field, name string, i int, s *mcpconfig.String) {
		for _, m := range d.Find(f.Path, name, s.Value) {
			hits = append(hits, Hit{Server: srv, Field: field, Name: name, Index: i, Value: s, Match: m})
		}
	}
	for _, srv := range f.Servers {
		for i := range srv.Env {
			find(srv, Env, srv.Env[i].Name, 0, &srv.Env[i].String)
		}
		for i := range srv.Args {
			flag := ""
			if i > 0 {
				if prev := srv.Args[i-1].Value; len(prev) > 1 && prev[0] == '-' && !slices.Contains([]byte(prev), '=') {
					flag = prev
				}
			}
			hit := len(hits)
			find(srv, Args, flag, i, &srv.Args[i])
			for j := hit; j < len(hits); j++ {
				hits[j].Name = "" // the flag only helped to read it
			}
		}
		for i := range srv.Headers {
			find(srv, Headers, srv.Headers[i].Name, 0, &srv.Headers[i].String)
		}
		if srv.URL != nil {
			find(srv, URL, "", 0, srv.URL)
		}
	}
	return hits
}

// sortFindings orders findings by file and place, a file's own findings
// before its secrets.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		own := func(f Finding) bool { return f.Masked == "" }
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), -compareBool(own(a), own(b)), cmp.Compare(a.Location, b.Location))
	})
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
