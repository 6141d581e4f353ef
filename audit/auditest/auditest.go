// Package auditest makes real-looking secrets for the audit tests. They are
// made when the tests run, never committed, so the repository itself holds
// nothing a secret scanner or a host's push protection would stop; a fixed
// seed keeps them, and so their masks in expected outputs, the same on
// every run.
package auditest

import (
	"math/rand/v2"
	"strings"
)

// Secrets returns the values by name. Each matches a gitleaks rule (or
// scan's URL heuristic) and is far above its entropy floor.
func Secrets() map[string]string {
	r := rand.New(rand.NewPCG(8, 8))
	const (
		upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		lower  = "abcdefghijklmnopqrstuvwxyz"
		digits = "0123456789"
		alnum  = upper + lower + digits
		b64    = alnum + "+/"
		url    = alnum + "_-"
	)
	s := func(n int, chars string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	return map[string]string{
		"OPENAI_KEY":     "sk-proj-" + s(74, url) + "T3BlbkFJ" + s(74, url),
		"ANTHROPIC_KEY":  "sk-ant-api03-" + s(93, url) + "AA",
		"GITHUB_PAT":     "ghp_" + s(36, alnum),
		"GITHUB_FINE":    "github_pat_" + s(22, alnum) + "_" + s(59, alnum),
		"AWS_KEY_ID":     "AKIA" + s(16, upper+"234567"),
		"AWS_SECRET":     s(40, b64),
		"SLACK_TOKEN":    "xoxb-" + s(12, digits) + "-" + s(13, digits) + "-" + s(24, alnum),
		"STRIPE_KEY":     "sk_live_" + s(24, alnum),
		"JWT":            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + s(60, alnum) + "." + s(43, url),
		"PEM":            "-----BEGIN RSA PRIVATE KEY-----\n" + s(64, b64) + "\n" + s(64, b64) + "\n-----END RSA PRIVATE KEY-----",
		"PG_PASSWORD":    "pw-" + s(16, alnum),
		"DB_PASSWORD":    s(6, alnum) + "#" + s(6, alnum),
		"GENERIC_SECRET": s(32, alnum),
		// Added later, after the others, so theirs stay as they were.
		"GITLAB_PAT":       "glpat-" + s(20, alnum),
		"GOOGLE_KEY":       "AIza" + s(35, url),
		"HF_TOKEN":         "hf_" + s(34, lower+upper),
		"LINEAR_KEY":       "lin_api_" + s(40, alnum),
		"NPM_TOKEN":        "npm_" + s(36, alnum),
		"BRAVE_KEY":        "BSA" + s(28, alnum),
		"URL_TOKEN":        s(40, alnum),
		"BASIC_AUTH":       s(24, b64),
		"SENTRY_TOKEN":     "sntryu_" + s(64, digits+"abcdef"),
		"CONTEXT7_KEY":     "ctx7sk-" + s(8, digits+"abcdef") + "-" + s(4, digits+"abcdef") + "-" + s(4, digits+"abcdef") + "-" + s(4, digits+"abcdef") + "-" + s(12, digits+"abcdef"),
		"GENERIC_SECRET_2": s(48, alnum),
	}
}

// Expand replaces ${NAME} in s by the secret NAME; anything else stays.
func Expand(s string) string {
	var pairs []string
	for k, v := range Secrets() {
		pairs = append(pairs, "${"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// JSONString is v as it appears inside a JSON string: a PEM key's newlines
// are escaped there, so a leak check must look for this form too.
func JSONString(v string) string {
	return strings.NewReplacer("\n", `\n`, `"`, `\"`, `\`, `\\`).Replace(v)
}
