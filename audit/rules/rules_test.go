package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
)

// The embedded rules are gitleaks v8.30.1's config/gitleaks.toml, unchanged.
// Regenerating them (go generate) at another version must update this hash,
// the version in the package comment, and pass the tests below again.
const gitleaksSHA256 = "e163e53b9e7e8a8511e77271e2b323ed057759542a6d988258afe3a1fa329caf"

func TestGitleaksFile(t *testing.T) {
	sum := sha256.Sum256(gitleaksTOML)
	if got := hex.EncodeToString(sum[:]); got != gitleaksSHA256 {
		t.Errorf("gitleaks.toml sha256 = %s, want %s", got, gitleaksSHA256)
	}
	rules, global, err := loadGitleaks(gitleaksTOML)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 222 {
		t.Errorf("%d rules, want 222", len(rules))
	}
	if rules[len(rules)-1].id != genericRule {
		t.Errorf("last rule is %s, want %s", rules[len(rules)-1].id, genericRule)
	}
	if len(global.stopwords) == 0 || !global.regex.set() {
		t.Error("global allowlist is empty")
	}
}

// Every expression compiles with Go's regexp, as gitleaks' default build
// compiles them: a rule that did not would silently find nothing.
func TestRulesCompile(t *testing.T) {
	rules, global, err := loadGitleaks(gitleaksTOML)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, expr string) {
		if expr == "" {
			return
		}
		if _, err := regexp.Compile(expr); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	lists := func(id string, as []*allowlist) {
		for _, a := range as {
			check(id+" allowlist", a.regex.expr)
			check(id+" allowlist paths", a.paths.expr)
		}
	}
	lists("global", []*allowlist{global})
	for _, r := range rules {
		check(r.id, r.regex.expr)
		check(r.id+" path", r.path.expr)
		lists(r.id, r.allowlists)
	}
}

// A config that uses what this package does not implement is refused.
func TestLoadRefusesUnknown(t *testing.T) {
	for _, cfg := range []string{
		"[allowlist]\nregexes=['x']\n[[rules]]\nid='generic-api-key'\nregex='x'\n[[rules.required]]\nid='other'\n",
		"[allowlist]\nregexes=['x']\n[[rules]]\nid='generic-api-key'\nregex='x'\nskipReport=true\n",
		"[allowlist]\nregexes=['x']\ntargetRules=['a']\n[[rules]]\nid='generic-api-key'\nregex='x'\n",
		"[allowlist]\nregexes=['x']\n[[rules]]\nid='generic-api-key'\nregex='x'\n[[rules.allowlists]]\nregexes=['y']\ncondition='XOR'\n",
	} {
		if _, _, err := loadGitleaks([]byte(cfg)); err == nil {
			t.Errorf("loaded %q", cfg)
		}
	}
}

func TestFind(t *testing.T) {
	s := auditest.Secrets()
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, value string
		want        []string // rule:secret
	}{
		// What must be found.
		{"OPENAI_API_KEY", s["OPENAI_KEY"], []string{"openai-api-key:" + s["OPENAI_KEY"]}},
		{"ANTHROPIC_API_KEY", s["ANTHROPIC_KEY"], []string{"anthropic-api-key:" + s["ANTHROPIC_KEY"]}},
		{"GITHUB_PERSONAL_ACCESS_TOKEN", s["GITHUB_PAT"], []string{"github-pat:" + s["GITHUB_PAT"]}},
		{"GH", s["GITHUB_FINE"], []string{"github-fine-grained-pat:" + s["GITHUB_FINE"]}},
		{"AWS_ACCESS_KEY_ID", s["AWS_KEY_ID"], []string{"aws-access-token:" + s["AWS_KEY_ID"]}},
		{"AWS_SECRET_ACCESS_KEY", s["AWS_SECRET"], []string{"generic-api-key:" + s["AWS_SECRET"]}},
		{"SLACK_BOT_TOKEN", s["SLACK_TOKEN"], []string{"slack-bot-token:" + s["SLACK_TOKEN"]}},
		{"STRIPE_SECRET_KEY", s["STRIPE_KEY"], []string{"stripe-access-token:" + s["STRIPE_KEY"]}},
		{"SESSION", s["JWT"], []string{"jwt:" + s["JWT"]}},
		{"SSH_KEY", s["PEM"], []string{"private-key:" + s["PEM"]}},
		{"DATABASE_URL", "postgresql://app:" + s["PG_PASSWORD"] + "@db.example.com:5432/app", []string{"url-credentials:" + s["PG_PASSWORD"]}},
		{"", "postgresql://app:" + s["PG_PASSWORD"] + "@localhost/app", []string{"url-credentials:" + s["PG_PASSWORD"]}},
		{"", "redis://:" + s["PG_PASSWORD"] + "@cache:6379", []string{"url-credentials:" + s["PG_PASSWORD"]}},
		{"DB_PASSWORD", s["DB_PASSWORD"], []string{"secret-variable:" + s["DB_PASSWORD"]}},
		{"Authorization", "Bearer " + s["GENERIC_SECRET"], []string{"secret-variable:" + s["GENERIC_SECRET"]}},
		{"Authorization", "Bearer " + s["OPENAI_KEY"], []string{"openai-api-key:" + s["OPENAI_KEY"]}},
		{"", "--api-key=" + s["GENERIC_SECRET"], []string{"generic-api-key:" + s["GENERIC_SECRET"]}},
		{"", "https://api.example.com/v1?token=" + s["GITHUB_PAT"], []string{"github-pat:" + s["GITHUB_PAT"]}},
		{"TOKENS", s["GITHUB_PAT"] + " " + s["STRIPE_KEY"], []string{"github-pat:" + s["GITHUB_PAT"], "stripe-access-token:" + s["STRIPE_KEY"]}},
		// One secret is one finding, the strongest rule's, however long
		// the name before it (gitlab-pat, generic-api-key and
		// secret-variable all match this one).
		{"GITLAB_PERSONAL_ACCESS_TOKEN", s["GITLAB_PAT"], []string{"gitlab-pat:" + s["GITLAB_PAT"]}},
		{"A_VERY_LONG_NAME_FOR_A_GITLAB_PERSONAL_ACCESS_TOKEN", s["GITLAB_PAT"], []string{"gitlab-pat:" + s["GITLAB_PAT"]}},
		{"", "https://oauth2:" + s["GITLAB_PAT"] + "@gitlab.com/group/repo.git", []string{"gitlab-pat:" + s["GITLAB_PAT"]}},
		{"GOOGLE_API_KEY", s["GOOGLE_KEY"], []string{"gcp-api-key:" + s["GOOGLE_KEY"]}},
		{"HF_TOKEN", s["HF_TOKEN"], []string{"huggingface-access-token:" + s["HF_TOKEN"]}},
		{"SENTRY_ACCESS_TOKEN", s["SENTRY_TOKEN"], []string{"sentry-user-token:" + s["SENTRY_TOKEN"]}},
		// The controls of the stand-ins below: the same places with a
		// real value.
		{"GITHUB_PERSONAL_ACCESS_TOKEN", "<" + s["GITHUB_PAT"] + "-x", []string{"github-pat:" + s["GITHUB_PAT"]}},
		{"AWS_SECRET_ACCESS_KEY", s["AWS_SECRET"][:33] + "EXAMPLX", []string{"generic-api-key:" + s["AWS_SECRET"][:33] + "EXAMPLX"}},
		{"API_KEY", "<a> " + s["GENERIC_SECRET"], []string{"secret-variable:" + s["GENERIC_SECRET"]}},
		{"", "postgresql://user:" + s["PG_PASSWORD"] + "@localhost/db", []string{"url-credentials:" + s["PG_PASSWORD"]}},
		// A literal secret beside a reference is still one.
		{"DB", "postgresql://$<aws:db#user>:" + s["PG_PASSWORD"] + "@db/app", []string{"url-credentials:" + s["PG_PASSWORD"]}},

		// What must not be.
		{"MAX_CONNECTIONS", "5", nil},
		{"ALLOWED_DIR", "/safe/workspace", nil},
		{"READ_ONLY", "true", nil},
		{"LOG_LEVEL", "debug", nil},
		{"", "-y", nil},
		{"", "@modelcontextprotocol/server-github", nil},
		{"", "https://api.example.com/v1/mcp", nil},
		{"GITHUB_TOOLSETS", "repos,issues,pull_requests", nil},
		{"NODE_OPTIONS", "--max-old-space-size=4096", nil},
		{"MAX_TOKENS", "4096", nil},
		{"API_KEY_HEADER", "X-Api-Key", nil},
		{"API_KEY_ID", "a1b2c3d4e5f6g7h8", nil},
		{"TOKEN_URL", "https://auth.example.com/oauth/token", nil},
		{"KEY_FILE", "/etc/ssl/private/server-key.pem", nil},
		{"SECRET_NAME", "prod/reporting-db", nil},
		{"API_KEY", "changeme", nil},
		{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", nil},
		{"GITHUB_TOKEN", "$<aws:prod/github#token>", nil},
		{"GITHUB_TOKEN", "${GITHUB_TOKEN}", nil},
		{"API_KEY", "${input:api_key}", nil},
		{"API_KEY", "${env:API_KEY}", nil},
		{"API_KEY", "$API_KEY", nil},
		{"DATABASE_URL", "postgresql://app:${DB_PASSWORD}@db/app", nil},
		{"DATABASE_URL", "postgresql://$<aws:db#user>:$<aws:db#password>@db/app", nil},
		{"DATABASE_URL", "postgresql://localhost:5432/app", nil},
		{"PASSWORD", "**********", nil},
		// Template placeholders and vendors' documented example keys.
		{"GITHUB_PERSONAL_ACCESS_TOKEN", "<your-github-token>", nil},
		{"GITHUB_PERSONAL_ACCESS_TOKEN", "<" + s["GITHUB_PAT"] + ">", nil},
		{"OPENAI_API_KEY", "{{OPENAI_API_KEY_VALUE_HERE}}", nil},
		{"Authorization", "Bearer <token from https://example.com/settings>", nil},
		{"Authorization", "Bearer YOUR_ACCESS_TOKEN_GOES_HERE", nil},
		{"GITHUB_PERSONAL_ACCESS_TOKEN", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", nil},
		{"STRIPE_SECRET_KEY", "sk_live_XXXXXXXXXXXXXXXXXXXXXXXX", nil},
		{"OPENAI_API_KEY", "sk-proj-…", nil},
		{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", nil},
		{"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", nil},
		{"AWS_SECRET_ACCESS_KEY", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", nil},
		{"API_KEY", "replace-with-your-key-1234", nil},
		{"", "postgresql://user:<password>@localhost/db", nil},
		{"", "postgresql://user:password@localhost/db", nil},
		{"", "https://user:{{PASSWORD}}@example.com/mcp", nil},
	}
	for _, tc := range tests {
		var got []string
		for _, m := range d.Find("config.json", tc.name, tc.value) {
			got = append(got, m.Rule+":"+tc.value[m.Start:m.End])
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("Find(%s=%.40q)\n got %q\nwant %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestNeutral(t *testing.T) {
	blank := strings.Repeat
	for in, want := range map[string]string{
		"plain":                 "plain",
		"a$<aws:x#y>b":          "a" + blank(" ", 10) + "b",
		"${VAR}/x":              blank(" ", 6) + "/x",
		"${input:k} $<x":        blank(" ", 11) + "$<x",
		"$<a>${b}$<c>":          blank(" ", 12),
		"unterminated ${abc":    "unterminated ${abc",
		"$$<dotenv:X> literal$": "$" + blank(" ", 11) + " literal$",
	} {
		if got := neutral(in); got != want || len(got) != len(in) {
			t.Errorf("neutral(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNameWords(t *testing.T) {
	for in, want := range map[string]string{
		"GITHUB_PERSONAL_ACCESS_TOKEN": "github personal access token",
		"apiKey":                       "api key",
		"x-api-key":                    "x api key",
		"Authorization":                "authorization",
		"OPENAI_API_KEY2":              "openai api key2",
	} {
		if got := strings.Join(nameWords(in), " "); got != want {
			t.Errorf("nameWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}

// A first scan's cost: parsing the rules and compiling what a config needs.
func BenchmarkFirstFind(b *testing.B) {
	s := auditest.Secrets()
	for b.Loop() {
		d, _ := New()
		d.Find("config.json", "GITHUB_TOKEN", s["GITHUB_PAT"])
		d.Find("config.json", "OPENAI_API_KEY", s["OPENAI_KEY"])
		d.Find("config.json", "", "@modelcontextprotocol/server-github")
	}
}

func BenchmarkFind(b *testing.B) {
	s := auditest.Secrets()
	d, _ := New()
	for b.Loop() {
		d.Find("config.json", "GITHUB_TOKEN", s["GITHUB_PAT"])
		d.Find("config.json", "", "@modelcontextprotocol/server-github")
	}
}
