package rules

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Detector finds secrets in values. It is safe for concurrent use.
type Detector struct {
	rules  []*rule // gitleaks' rules, the generic one last
	global *allowlist
	url    *regexp.Regexp
}

// New parses gitleaks' rules (a few milliseconds; their regexps are
// compiled later, as values need them).
func New() (*Detector, error) {
	rules, global, err := loadGitleaks(gitleaksTOML)
	if err != nil {
		return nil, err
	}
	return &Detector{
		rules:  rules,
		global: global,
		// scheme://user:password@host; the password is group 1. The user may
		// be a reference, blanked to spaces.
		url: regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\n:/?#@]*:([^\s/?#@]+)@[^\s/?#@]`),
	}, nil
}

// Match is one secret in a value.
type Match struct {
	Rule        string
	Description string
	Severity    Severity
	Start, End  int // the secret is value[Start:End]
}

// The heuristics' rule ids.
const (
	URLCredentials = "url-credentials"
	SecretVariable = "secret-variable"
)

// Find returns the secrets in value, in order, without overlaps. name is
// the variable or header the value is set under ("" for an argument or a
// URL): gitleaks' rules for keyed values and the name heuristic read it.
// path is the file, for rules that apply to some files only. References
// ($<...>) and placeholders (${VAR}, ${input:x}, ${env:X}) are not secrets.
func (d *Detector) Find(path, name, value string) []Match {
	text := neutral(value)
	off := 0
	if name != "" {
		// As a dotenv line, so keyed rules see the name.
		off = len(name) + 1
		text = name + "=" + text
	}
	if d.global.paths.set() && d.global.paths.get().MatchString(path) {
		return nil
	}
	lower := strings.ToLower(text)
	type ranked struct {
		Match
		rank int
	}
	var all []ranked
	for _, r := range d.rules {
		rank := 0
		if r.id == genericRule {
			rank = 2
		}
		for _, m := range r.find(d.global, path, text, lower) {
			all = append(all, ranked{m, rank})
		}
	}
	for _, g := range d.url.FindAllStringSubmatchIndex(text, -1) {
		if secret := text[g[2]:g[3]]; !d.global.allows(path, secret, text[g[0]:g[1]], text) {
			all = append(all, ranked{Match{URLCredentials, "A password in a URL's user information.", High, g[2], g[3]}, 1})
		}
	}
	if name != "" {
		if s, e, ok := namedSecret(name, text[off:]); ok && !d.global.allows(path, text[off+s:off+e], text[off+s:off+e], text) {
			all = append(all, ranked{Match{SecretVariable, "A high-entropy value of a variable named like a credential.", Medium, off + s, off + e}, 3})
		}
	}
	slices.SortStableFunc(all, func(a, b ranked) int { return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.Start, b.Start)) })
	var out []Match
	for _, m := range all {
		m.Start -= off
		m.End -= off
		if m.Start < 0 || placeholder(value, m.Start, m.End) || slices.ContainsFunc(out, func(o Match) bool { return m.Start < o.End && o.Start < m.End }) {
			continue // in the name, a stand-in, or overlapping a better match: one secret is one finding
		}
		out = append(out, m.Match)
	}
	slices.SortFunc(out, func(a, b Match) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// find applies one gitleaks rule as gitleaks does: keywords first, then the
// regexp, the secret group, the entropy floor and the allowlists.
func (r *rule) find(global *allowlist, path, text, lower string) []Match {
	if len(r.keywords) > 0 && !slices.ContainsFunc(r.keywords, func(k string) bool { return strings.Contains(lower, k) }) {
		return nil
	}
	if r.path.set() && !r.path.get().MatchString(path) {
		return nil
	}
	re := r.regex.get()
	if re == nil {
		return nil // a rule on file names only
	}
	var out []Match
	for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[0], m[0]+len(strings.TrimRight(text[m[0]:m[1]], "\n"))
		match := text[start:end]
		ss, se := start, end
		switch {
		case r.secretGroup > 0 && 2*r.secretGroup+1 < len(m):
			ss, se = m[2*r.secretGroup], m[2*r.secretGroup+1]
		case r.secretGroup == 0:
			// Without a secret group, the first group that matched.
			for g := 1; 2*g+1 < len(m); g++ {
				if m[2*g] >= 0 && m[2*g+1] > m[2*g] {
					ss, se = m[2*g], m[2*g+1]
					break
				}
			}
		}
		if ss < 0 || se <= ss {
			continue
		}
		secret := text[ss:se]
		if r.entropy != 0 && entropy(secret) <= r.entropy {
			continue
		}
		line := lineOf(text, start, end)
		if global.allows(path, secret, match, line) || slices.ContainsFunc(r.allowlists, func(a *allowlist) bool { return a.allows(path, secret, match, line) }) {
			continue
		}
		out = append(out, Match{Rule: r.id, Description: r.description, Severity: r.severity(), Start: ss, End: se})
	}
	return out
}

func (r *rule) severity() Severity {
	if r.id == genericRule {
		return Medium
	}
	return High
}

// lineOf is the text of the lines a match spans.
func lineOf(text string, start, end int) string {
	s := strings.LastIndexByte(text[:start], '\n') + 1
	e := strings.IndexByte(text[end:], '\n')
	if e < 0 {
		return text[s:]
	}
	return text[s : end+e]
}

// entropy is the Shannon entropy of s in bits per character, as gitleaks
// computes it.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	for _, c := range s {
		counts[c]++
	}
	var h float64
	for _, n := range counts {
		f := float64(n) / float64(len(s))
		h -= f * math.Log2(f)
	}
	return h
}

// placeholder reports whether value[start:end] stands in for a secret
// rather than being one: a template field (<your-github-token>,
// {{API_KEY}}), a vendor's documented example key (AWS's AKIA…EXAMPLE and
// its …EXAMPLEKEY secret), filler (xxxx, ****, …), or a word that names
// what should be there (password, changeme). Real keys are random: the
// chance that one holds any of these words is about 1 in 10,000.
func placeholder(value string, start, end int) bool {
	s := strings.ToLower(value[start:end])
	if inside(value, start, end, "<", ">") || inside(value, start, end, "{{", "}}") {
		return true
	}
	for _, w := range []string{"example", "your", "placeholder", "changeme", "change_me", "change-me", "replace", "redacted", "xxxx", "****", "....", "…"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	switch s {
	case "password", "passwd", "pass", "secret", "token", "apikey", "api_key", "api-key":
		return true
	}
	return false
}

// inside reports whether value[start:end] is within open…close (the
// match may take them in), with neither again between: <your-token>, not
// <a>token</a>.
func inside(value string, start, end int, open, close string) bool {
	o := strings.LastIndex(value[:min(start+len(open), len(value))], open)
	from := max(end-len(close), 0)
	c := strings.Index(value[from:], close)
	if o < 0 || c < 0 || o+len(open) > from+c {
		return false
	}
	c += from
	return !strings.Contains(value[o+len(open):max(start, o+len(open))], close) && !strings.Contains(value[min(end, c):c], open)
}

// neutral blanks references ($<...>) and placeholders (${...}) with spaces,
// keeping every other byte where it was: they are not secrets, and a rule
// must not read one as part of a secret around it.
func neutral(s string) string {
	if !strings.Contains(s, "$<") && !strings.Contains(s, "${") {
		return s
	}
	b := []byte(s)
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '$' || b[i+1] != '<' && b[i+1] != '{' {
			continue
		}
		closer := byte('>')
		if b[i+1] == '{' {
			closer = '}'
		}
		j := strings.IndexByte(s[i+2:], closer)
		if j < 0 {
			break
		}
		end := i + 2 + j + 1
		for k := i; k < end; k++ {
			b[k] = ' '
		}
		i = end - 1
	}
	return string(b)
}

// secretWord reports whether a word of a variable or header name says it
// holds a credential.
func secretWord(w string) bool {
	switch w {
	case "key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass", "passphrase",
		"credential", "credentials", "auth", "authorization", "bearer", "privatekey", "accesskey", "secretkey":
		return true
	}
	return false
}

// otherWord reports whether the last word of a name says it holds
// something else than the credential (KEY_ID, TOKEN_URL, PASSWORD_FILE).
func otherWord(w string) bool {
	switch w {
	case "id", "name", "url", "uri", "path", "file", "dir", "header", "type", "host",
		"endpoint", "region", "user", "username", "version", "count", "size", "limit", "timeout", "ttl":
		return true
	}
	return false
}

// minNamedEntropy is the floor for a value kept under a credential-like
// name: random keys are well above it, settings like "production" or
// "X-Api-Key" below.
const minNamedEntropy = 3.0

// namedSecret finds a credential-like value kept under a credential-like
// name, and returns where it is in value.
func namedSecret(name, value string) (start, end int, ok bool) {
	words := nameWords(name)
	if len(words) == 0 || otherWord(words[len(words)-1]) || !slices.ContainsFunc(words, secretWord) {
		return 0, 0, false
	}
	start = len(value) - len(strings.TrimLeft(value, " \t"))
	v := strings.TrimSpace(value)
	// An Authorization scheme before the credential.
	if scheme, rest, ok := strings.Cut(v, " "); ok && len(scheme) <= 6 && !strings.ContainsFunc(rest, unicode.IsSpace) {
		start += len(scheme) + 1
		v = rest
	}
	switch {
	case len(v) < 8, strings.ContainsFunc(v, unicode.IsSpace), strings.Contains(v, "://"),
		strings.HasPrefix(v, "/"), strings.HasPrefix(v, "./"), strings.HasPrefix(v, "../"), strings.HasPrefix(v, "~/"),
		strings.Trim(v, "0123456789.") == "",
		strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.-") == "",
		entropy(v) < minNamedEntropy:
		return 0, 0, false
	}
	return start, start + len(v), true
}

// nameWords splits API_KEY, apiKey, x-api-key into lower-case words.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, c := range rs {
		switch {
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			flush()
		case unicode.IsUpper(c) && i > 0 && unicode.IsLower(rs[i-1]):
			flush()
			cur = append(cur, c)
		default:
			cur = append(cur, c)
		}
	}
	flush()
	return words
}
