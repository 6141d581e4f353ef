// Package wrap moves the plaintext secrets of an MCP client config into a
// secrets store (AWS Secrets Manager, Vault KV, Azure Key Vault, or a
// private .env file) and rewrites the config to reference them, each
// server then started through mcp-secrets run.
//
// A server's secrets become one secret holding a JSON object, one key per
// variable, so a server's references cost one fetch. The config is edited
// in place (mcpconfig's splices): everything else stays byte for byte.
package wrap

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/audit"
	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Plan is a wrap worked out and not yet done.
type Plan struct {
	File    *mcpconfig.File
	Target  Target
	Servers []*Server
	// Notes say what is left as it was, and why (a remote server, one
	// already wrapped).
	Notes []string

	edits []mcpconfig.Splice // the rewrite
	masks []mcpconfig.Splice // every secret's literal, masked: for the diff
}

// Server is what wrap does to one server.
type Server struct {
	Name   string
	Secret string            // the store's name of its secret; "" for dotenv
	Values map[string]string // by key: what goes into the store
	Moved  []Moved
	// SecretArgs is set when a secret had to stay in an argument (as a
	// reference): the server then runs with --allow-secret-args.
	SecretArgs bool
}

// Moved is one value that became a reference.
type Moved struct {
	Location string
	Ref      providers.Ref
	value    string
}

// New works out a wrap of the config's plaintext secrets (hits) into t.
// self is the absolute path of mcp-secrets, the servers' new command.
// existing is what the dotenv target file already holds (dotenv only).
func New(f *mcpconfig.File, hits []audit.Hit, t Target, self string, existing map[string]string) (*Plan, error) {
	p := &Plan{File: f, Target: t}
	masked := map[*mcpconfig.String]bool{}
	for _, h := range hits {
		if !masked[h.Value] {
			masked[h.Value] = true
			p.masks = append(p.masks, mask(f, hits, h.Value))
		}
	}
	dotenvVars := map[string]string{} // dotenv: variable name → value, existing and planned
	for k, v := range existing {
		dotenvVars[k] = v
	}
	secretNames := map[string]bool{}
	for _, srv := range f.Servers {
		var mine []audit.Hit
		for _, h := range hits {
			if h.Server == srv {
				mine = append(mine, h)
			}
		}
		if len(mine) == 0 {
			continue
		}
		s, err := p.plan(srv, mine, self, secretNames, dotenvVars)
		if err != nil {
			return nil, err
		}
		if s != nil {
			p.Servers = append(p.Servers, s)
		}
	}
	return p, nil
}

// plan works out one server; nil when it is left alone.
func (p *Plan) plan(srv *mcpconfig.Server, hits []audit.Hit, self string, secretNames map[string]bool, dotenvVars map[string]string) (*Server, error) {
	f, t := p.File, p.Target
	where := func(hs []audit.Hit) string {
		var locs []string
		for _, h := range hs {
			if !slices.Contains(locs, h.Value.Location) {
				locs = append(locs, h.Value.Location)
			}
		}
		return strings.Join(locs, ", ")
	}
	switch {
	case srv.Command == nil:
		p.Notes = append(p.Notes, fmt.Sprintf("%s is a remote server: nothing starts it, so its secrets (%s) stay where they are; move them by hand", srv.Location, where(hits)))
		return nil, nil
	case wrapped(srv):
		p.Notes = append(p.Notes, fmt.Sprintf("%s already runs through mcp-secrets: left as it is, with its plaintext secrets (%s)", srv.Location, where(hits)))
		return nil, nil
	}
	s := &Server{Name: srv.Name, Values: map[string]string{}}
	if t.Provider != "dotenv" {
		s.Secret = t.secretName(srv.Name)
		for n := 2; secretNames[s.Secret]; n++ {
			s.Secret = t.secretName(srv.Name + "-" + strconv.Itoa(n))
		}
		secretNames[s.Secret] = true
	}
	var edits []mcpconfig.Splice
	var stay []audit.Hit
	done := map[*mcpconfig.String]bool{}
	for _, h := range hits {
		if done[h.Value] {
			continue // a value with several secrets moves once
		}
		done[h.Value] = true
		var key string
		switch {
		case h.Field == audit.Headers || h.Field == audit.URL:
			stay = append(stay, h)
			continue
		case providers.HasRef(h.Value.Value):
			stay = append(stay, h) // a secret beside a reference: the whole value cannot be stored
			continue
		case h.Field == audit.Env:
			key = keyName(h.Name)
		default:
			key = "ARG_" + strconv.Itoa(h.Index)
			s.SecretArgs = true
		}
		for base, n := key, 2; s.Values[key] != ""; n++ {
			key = base + "_" + strconv.Itoa(n)
		}
		if t.Provider == "dotenv" {
			if h.Field == audit.Args {
				key = envPrefix(srv.Name) + key // one file for all servers: say whose argument
			}
			key = dotenvName(dotenvVars, srv.Name, key, h.Value.Value)
			dotenvVars[key] = h.Value.Value
		}
		s.Values[key] = h.Value.Value
		ref := t.ref(s.Secret, key)
		s.Moved = append(s.Moved, Moved{Location: h.Value.Location, Ref: ref, value: h.Value.Value})
		edits = append(edits, f.Set(*h.Value, ref.String()))
	}
	if len(stay) > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%s: %s stay as they are: wrap moves whole values of env and args only", srv.Location, where(stay)))
	}
	if len(s.Moved) == 0 {
		return nil, nil
	}
	args := []string{"run"}
	if s.SecretArgs {
		args = append(args, "--allow-secret-args")
	}
	if t.Provider == "dotenv" {
		args = append(args, "--env-file", t.Path)
	}
	args = append(args, "--", srv.Command.Value)
	pre, err := f.Prepend(srv, args)
	if err != nil {
		return nil, err
	}
	p.edits = append(p.edits, edits...)
	p.edits = append(p.edits, f.Set(*srv.Command, self), pre)
	return s, nil
}

// wrapped reports whether a server already runs through mcp-secrets. The
// command may be a Windows path wherever wrap runs: a config is the
// user's, and may come from another machine.
func wrapped(srv *mcpconfig.Server) bool {
	cmd := srv.Command.Value
	base := strings.TrimSuffix(cmd[strings.LastIndexAny(cmd, `/\`)+1:], ".exe")
	return base == "mcp-secrets" && len(srv.Args) > 0 && (srv.Args[0].Value == "run" || srv.Args[0].Value == "exec")
}

// dotenvName is the variable a value takes in the dotenv target: its own
// name unless that holds another value already; then the server's name
// prefixes it (and a number, if even that is taken).
func dotenvName(vars map[string]string, server, key, value string) string {
	name := key
	prefix := envPrefix(server)
	for n := 1; ; n++ {
		if v, ok := vars[name]; !ok || v == value {
			return name
		}
		name = prefix + key
		if n > 1 {
			name += "_" + strconv.Itoa(n)
		}
	}
}

// envPrefix is a server's name as the head of a variable name.
func envPrefix(server string) string { return strings.ToUpper(keyName(server)) + "_" }

// mask is the splice that shows a value with each of its secrets masked.
func mask(f *mcpconfig.File, hits []audit.Hit, s *mcpconfig.String) mcpconfig.Splice {
	v := s.Value
	var spans [][2]int
	for _, h := range hits {
		if h.Value == s {
			spans = append(spans, [2]int{h.Match.Start, h.Match.End})
		}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return b[0] - a[0] })
	for _, sp := range spans {
		v = v[:sp[0]] + audit.Mask(v[sp[0]:sp[1]]) + v[sp[1]:]
	}
	return f.Set(*s, v)
}

// Count is the number of values the plan moves.
func (p *Plan) Count() int {
	n := 0
	for _, s := range p.Servers {
		n += len(s.Moved)
	}
	return n
}

// Rewritten is the config as the wrap leaves it.
func (p *Plan) Rewritten() []byte { return mcpconfig.Apply(p.File.Data, p.edits) }
