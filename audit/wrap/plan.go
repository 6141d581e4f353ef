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
	case srv.Command == nil && srv.URL != nil:
		return p.planRemote(srv, hits, self, secretNames, dotenvVars, where)
	case srv.Command == nil:
		p.Notes = append(p.Notes, fmt.Sprintf("%s has neither a command nor a URL: its secrets (%s) stay where they are", srv.Location, where(hits)))
		return nil, nil
	case wrapped(srv):
		p.Notes = append(p.Notes, fmt.Sprintf("%s already runs through mcp-secrets: left as it is, with its plaintext secrets (%s)", srv.Location, where(hits)))
		return nil, nil
	}
	s := p.newServer(srv, secretNames)
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
			key = argKey(srv, h.Index)
			s.SecretArgs = true
		}
		// One file for all servers: an argument says whose it is.
		ref := p.store(s, srv.Name, key, h.Field == audit.Args, h.Value.Value, dotenvVars)
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

// newServer is what wrap does to srv, with a name for its secret that no
// other server has.
func (p *Plan) newServer(srv *mcpconfig.Server, secretNames map[string]bool) *Server {
	t := p.Target
	s := &Server{Name: srv.Name, Values: map[string]string{}}
	if t.Provider != "dotenv" {
		s.Secret = t.secretName(srv.Name)
		for n := 2; secretNames[s.Secret]; n++ {
			s.Secret = t.secretName(srv.Name + "-" + strconv.Itoa(n))
		}
		secretNames[s.Secret] = true
	}
	return s
}

// store puts value under key in the server's secret (numbered if the key
// is taken), or in the dotenv target under a name no other value has, and
// returns its reference. ours says the key is no variable of the server's
// own, so in the dotenv file, shared by every server, it takes the
// server's name.
func (p *Plan) store(s *Server, server, key string, ours bool, value string, dotenvVars map[string]string) providers.Ref {
	for base, n := key, 2; s.Values[key] != ""; n++ {
		key = base + "_" + strconv.Itoa(n)
	}
	if p.Target.Provider == "dotenv" {
		key = dotenvName(dotenvVars, server, key, ours, value)
		dotenvVars[key] = value
	}
	s.Values[key] = value
	return p.Target.ref(s.Secret, key)
}

// planRemote turns a remote entry into a stdio entry running mcp-secrets
// connect: each secret of its headers and URL is stored, and its
// reference takes its place in connect's --header and URL arguments,
// which connect resolves itself (a reference there puts no value in
// argv). The text around a secret (Bearer, the rest of the URL) stays.
func (p *Plan) planRemote(srv *mcpconfig.Server, hits []audit.Hit, self string, secretNames map[string]bool, dotenvVars map[string]string, where func([]audit.Hit) string) (*Server, error) {
	f, t := p.File, p.Target
	if f.SSE(srv) {
		p.Notes = append(p.Notes, fmt.Sprintf("%s speaks the HTTP+SSE transport, which mcp-secrets connect does not: its secrets (%s) stay where they are; if the server speaks Streamable HTTP too, point the entry there and wrap again", srv.Location, where(hits)))
		return nil, nil
	}
	// A layout or key that cannot be rewritten stops it before anything is
	// planned to be stored.
	if _, err := f.Stdio(srv, self, nil); err != nil {
		p.Notes = append(p.Notes, fmt.Sprintf("%v: its secrets (%s) stay where they are", err, where(hits)))
		return nil, nil
	}
	s := p.newServer(srv, secretNames)
	// withRefs is v with each of its secrets stored and replaced by its
	// reference, the text between them kept literally.
	withRefs := func(v *mcpconfig.String) string {
		var mine []audit.Hit
		for _, h := range hits {
			if h.Value == v {
				mine = append(mine, h)
			}
		}
		slices.SortFunc(mine, func(a, b audit.Hit) int { return a.Match.Start - b.Match.Start })
		var b strings.Builder
		at := 0
		for _, h := range mine {
			b.WriteString(escape(v.Value[at:h.Match.Start]))
			ref := p.store(s, srv.Name, remoteKey(h), true, h.Secret(), dotenvVars)
			s.Moved = append(s.Moved, Moved{Location: v.Location, Ref: ref, value: h.Secret()})
			b.WriteString(ref.String())
			at = h.Match.End
		}
		b.WriteString(escape(v.Value[at:]))
		return b.String()
	}
	args := []string{"connect"}
	if t.Provider == "dotenv" {
		args = append(args, "--env-file", t.Path)
	}
	for i := range srv.Headers {
		h := &srv.Headers[i]
		args = append(args, "--header", h.Name+": "+withRefs(&h.String))
	}
	args = append(args, withRefs(srv.URL))
	edits, err := f.Stdio(srv, self, args)
	if err != nil {
		return nil, err
	}
	p.edits = append(p.edits, edits...)
	return s, nil
}

// escape keeps literal text literal where references are resolved: $<
// is written $$<.
func escape(s string) string { return strings.ReplaceAll(s, "$<", "$$<") }

// wrapped reports whether a server already runs through mcp-secrets. The
// command may be a Windows path wherever wrap runs: a config is the
// user's, and may come from another machine.
func wrapped(srv *mcpconfig.Server) bool {
	cmd := srv.Command.Value
	base := strings.TrimSuffix(cmd[strings.LastIndexAny(cmd, `/\`)+1:], ".exe")
	return base == "mcp-secrets" && len(srv.Args) > 0 && (srv.Args[0].Value == "run" || srv.Args[0].Value == "exec")
}

// dotenvName is the variable a value takes in the dotenv target: the key
// itself if it is the server's own variable (not ours) and free, else the
// key under the server's name (joinName), numbered if even that is taken.
// A name is free if it holds no value yet, or this one.
func dotenvName(vars map[string]string, server, key string, ours bool, value string) string {
	free := func(name string) bool {
		v, ok := vars[name]
		return !ok || v == value
	}
	if !ours && free(key) {
		return key
	}
	base := joinName(server, key)
	name := base
	for n := 2; !free(name) || name == key && !ours; n++ {
		name = base + "_" + strconv.Itoa(n)
	}
	return name
}

// joinName puts a server's name before a key as a person would, without
// saying a word twice: github and GITHUB_TOKEN give GITHUB_TOKEN,
// github-work and GITHUB_TOKEN GITHUB_WORK_TOKEN, my-github and
// GITHUB_TOKEN MY_GITHUB_TOKEN, sentry and TOKEN SENTRY_TOKEN.
func joinName(server, key string) string {
	sw, kw := words(server), strings.Split(key, "_")
	if len(sw) == 0 {
		return key
	}
	shared := 0
	for shared < len(sw) && shared < len(kw) && sw[shared] == kw[shared] {
		shared++
	}
	if shared == 0 {
		// The server's last words may be the key's first.
		for k := min(len(sw), len(kw)); k > 0; k-- {
			if slices.Equal(sw[len(sw)-k:], kw[:k]) {
				shared = k
				break
			}
		}
	}
	return strings.Join(append(slices.Clone(sw), kw[shared:]...), "_")
}

// words splits a name (a server's, a header's, a flag's, a query
// parameter's) into upper-case words: my-server.v2 is MY SERVER V2,
// apiKey API KEY.
func words(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToUpper(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'):
			flush()
		case 'A' <= r && r <= 'Z' && i > 0 && 'a' <= rs[i-1] && rs[i-1] <= 'z':
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return out
}

// argKey is the key of an argument's value: the flag before it
// (--api-key VALUE is API_KEY), else ARG_ and its index.
func argKey(srv *mcpconfig.Server, i int) string {
	if i > 0 {
		if prev := srv.Args[i-1].Value; strings.HasPrefix(prev, "-") && !strings.Contains(prev, "=") {
			if w := words(prev); len(w) > 0 {
				return strings.Join(w, "_")
			}
		}
	}
	return "ARG_" + strconv.Itoa(i)
}

// remoteKey is the key of a secret in a remote entry's header or URL, as
// a person would name the variable: TOKEN for a bearer token (BASIC_AUTH
// for basic credentials), the header's name otherwise (X-Api-Key is
// API_KEY), a query parameter's name, PASSWORD for a URL's user
// information, URL_TOKEN for a secret in its path.
func remoteKey(h audit.Hit) string {
	v := h.Value.Value
	before := v[:h.Match.Start]
	if h.Field == audit.Headers {
		w := words(h.Name)
		if len(w) == 0 {
			return "HEADER"
		}
		if len(w) > 1 && w[0] == "X" {
			w = w[1:]
		}
		if w[len(w)-1] == "AUTHORIZATION" {
			switch strings.ToLower(strings.TrimSpace(before)) {
			case "basic":
				return "BASIC_AUTH"
			case "", "bearer", "token":
				return "TOKEN"
			}
		}
		return strings.Join(w, "_")
	}
	if i := strings.LastIndexAny(before, "?&;"); i >= 0 && strings.HasSuffix(before, "=") && !strings.ContainsAny(before[i:], "/#") {
		if w := words(before[i+1 : len(before)-1]); len(w) > 0 {
			return strings.Join(w, "_")
		}
	}
	if _, auth, ok := strings.Cut(before, "://"); ok && !strings.Contains(auth, "/") && strings.HasPrefix(v[h.Match.End:], "@") {
		return "PASSWORD"
	}
	return "URL_TOKEN"
}

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
