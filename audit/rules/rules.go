// Package rules finds plaintext secrets in the values of MCP client configs
// and .env files: gitleaks' default rule set, plus two heuristics for what
// rule sets miss in configs (a password in a URL; a high-entropy value of a
// variable named like a secret).
//
// gitleaks' rules are used as data, not as code: gitleaks.toml and
// LICENSE.gitleaks are config/gitleaks.toml and LICENSE of the module
// github.com/zricethezav/gitleaks/v8 at v8.30.1, unchanged (go generate
// copies them again; a test pins the file's SHA-256). Linking gitleaks'
// detect package would make every start of the binary, which is every MCP
// server start, about 3 ms slower; here the file is parsed only when a
// Detector is made, and each rule's regexp is compiled the first time a
// value holds one of the rule's keywords.
package rules

//go:generate sh -c "dir=$(GOFLAGS=-mod=mod go mod download -json github.com/zricethezav/gitleaks/v8@v8.30.1 | sed -n 's/^\t\"Dir\": \"\\(.*\\)\",$/\\1/p') && cp \"$dir/config/gitleaks.toml\" gitleaks.toml && cp \"$dir/LICENSE\" LICENSE.gitleaks && chmod 644 gitleaks.toml LICENSE.gitleaks"

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
)

//go:embed gitleaks.toml
var gitleaksTOML []byte

// Severity says how bad a finding is.
type Severity string

const (
	High   Severity = "high"   // a credential in a known format, or a password in a URL
	Medium Severity = "medium" // a credential by its shape and its name
)

// genericRule is gitleaks' catch-all: a key-like name, an operator, a
// high-entropy value. Any more specific rule wins over it.
const genericRule = "generic-api-key"

// rule is one gitleaks rule.
type rule struct {
	id, description string
	regex           lazyRegexp
	path            lazyRegexp // the rule applies only to matching files
	secretGroup     int
	entropy         float64 // the secret's Shannon entropy must be above this
	keywords        []string
	allowlists      []*allowlist
}

// allowlist is a gitleaks allowlist: a match is not a finding if its target
// matches one of the regexes, the secret holds a stopword, or the file
// matches one of the paths (all of the checks that are set, with AND).
type allowlist struct {
	target    string // "secret" (default), "match" or "line"
	and       bool
	regex     lazyRegexp
	paths     lazyRegexp
	stopwords []string // lower case
}

// lazyRegexp compiles its expression on first use.
type lazyRegexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

func (l *lazyRegexp) get() *regexp.Regexp {
	l.once.Do(func() {
		if l.expr != "" {
			// The expressions are tested to compile (TestRulesCompile); one
			// that did not would match nothing.
			l.re, _ = regexp.Compile(l.expr)
		}
	})
	return l.re
}

func (l *lazyRegexp) set() bool { return l.expr != "" }

// fileConfig is the part of gitleaks' config format this package
// implements. Decoding is strict, so a new version of the rules that uses
// more (required rules, per-rule targets) fails its test instead of being
// half applied.
type fileConfig struct {
	Title      string
	MinVersion string `toml:"minVersion"`
	Allowlist  *fileAllowlist
	Allowlists []fileAllowlist
	Rules      []struct {
		ID          string
		Description string
		Regex       string
		Path        string
		SecretGroup int `toml:"secretGroup"`
		Entropy     float64
		Keywords    []string
		Tags        []string
		Allowlists  []fileAllowlist
	}
}

type fileAllowlist struct {
	Description string
	Condition   string
	RegexTarget string `toml:"regexTarget"`
	Regexes     []string
	Paths       []string
	StopWords   []string `toml:"stopwords"`
}

// loadGitleaks reads gitleaks' config: its rules, with the generic rule
// last, and its global allowlist.
func loadGitleaks(data []byte) ([]*rule, *allowlist, error) {
	var cfg fileConfig
	d := toml.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&cfg); err != nil {
		return nil, nil, fmt.Errorf("gitleaks rules: %w", err)
	}
	globals := cfg.Allowlists
	if cfg.Allowlist != nil {
		globals = append(globals, *cfg.Allowlist)
	}
	if len(globals) != 1 {
		return nil, nil, fmt.Errorf("gitleaks rules: %d global allowlists, want 1", len(globals))
	}
	global, err := newAllowlist(globals[0])
	if err != nil {
		return nil, nil, fmt.Errorf("gitleaks rules: global allowlist: %w", err)
	}
	var rules []*rule
	var generic *rule
	for _, fr := range cfg.Rules {
		r := &rule{
			id:          fr.ID,
			description: fr.Description,
			regex:       lazyRegexp{expr: fr.Regex},
			path:        lazyRegexp{expr: fr.Path},
			secretGroup: fr.SecretGroup,
			entropy:     fr.Entropy,
		}
		for _, k := range fr.Keywords {
			r.keywords = append(r.keywords, strings.ToLower(k))
		}
		for _, fa := range fr.Allowlists {
			a, err := newAllowlist(fa)
			if err != nil {
				return nil, nil, fmt.Errorf("gitleaks rules: %s: %w", fr.ID, err)
			}
			r.allowlists = append(r.allowlists, a)
		}
		if r.id == genericRule {
			generic = r
			continue
		}
		rules = append(rules, r)
	}
	if generic == nil {
		return nil, nil, fmt.Errorf("gitleaks rules: no %s rule", genericRule)
	}
	return append(rules, generic), global, nil
}

func newAllowlist(fa fileAllowlist) (*allowlist, error) {
	a := &allowlist{target: fa.RegexTarget}
	switch fa.Condition {
	case "", "OR":
	case "AND":
		a.and = true
	default:
		return nil, fmt.Errorf("allowlist condition %q", fa.Condition)
	}
	switch fa.RegexTarget {
	case "", "secret", "match", "line":
	default:
		return nil, fmt.Errorf("allowlist regexTarget %q", fa.RegexTarget)
	}
	a.regex.expr = joinOr(fa.Regexes)
	a.paths.expr = joinOr(fa.Paths)
	for _, w := range fa.StopWords {
		a.stopwords = append(a.stopwords, strings.ToLower(w))
	}
	return a, nil
}

// joinOr makes one expression of several, as gitleaks does.
func joinOr(exprs []string) string {
	if len(exprs) == 0 {
		return ""
	}
	return "(?:" + strings.Join(exprs, ")|(?:") + ")"
}

// allows reports whether a match is allowed (not a finding).
func (a *allowlist) allows(path, secret, match, line string) bool {
	target := secret
	switch a.target {
	case "match":
		target = match
	case "line":
		target = line
	}
	regexOK := a.regex.set() && target != "" && a.regex.get().MatchString(target)
	pathOK := a.paths.set() && path != "" && a.paths.get().MatchString(path)
	stopOK := false
	if len(a.stopwords) > 0 {
		lower := strings.ToLower(secret)
		for _, w := range a.stopwords {
			if strings.Contains(lower, w) {
				stopOK = true
				break
			}
		}
	}
	if !a.and {
		return regexOK || stopOK || pathOK
	}
	checks := 0
	for _, c := range []struct{ set, ok bool }{
		{a.regex.set(), regexOK},
		{a.paths.set(), pathOK},
		{len(a.stopwords) > 0, stopOK},
	} {
		if c.set {
			if !c.ok {
				return false
			}
			checks++
		}
	}
	return checks > 0
}
