package audit

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
)

// masked is the only form a value may take in a finding.
var masked = regexp.MustCompile(`^(.{0,4})…\((\d+) chars\)$`)

// Whatever a config holds, scanning it never panics, and every finding
// shows at most the first 4 characters of its secret, and its length.
func FuzzScanConfig(f *testing.F) {
	s := auditest.Secrets()
	f.Add("c.json", `{"mcpServers": {"a": {"command": "x", "args": ["--api-key", "`+s["GENERIC_SECRET"]+`"], "env": {"T": "`+s["GITHUB_PAT"]+`", "U": "postgresql://u:`+s["PG_PASSWORD"]+`@h/d"}, "headers": {"Authorization": "Bearer `+s["OPENAI_KEY"]+`"}, "url": "https://x/?token=`+s["STRIPE_KEY"]+`"}}}`)
	f.Add("c.toml", "[mcp_servers.a]\ncommand = 'x'\nenv = { K = \"\"\""+s["PEM"]+"\"\"\" }\n")
	f.Add("c.json", `{"servers": {"b": {"env": {"DB_PASSWORD": "`+s["DB_PASSWORD"]+`", "X": "$<aws:a#b> ${VAR}"}}}}`)
	d, err := rules.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, data string) {
		path := "c.json"
		if strings.HasSuffix(name, "toml") {
			path = "c.toml"
		}
		cfg, err := mcpconfig.Parse(path, []byte(data))
		if err != nil {
			return // mcpconfig's own fuzz target checks its errors
		}
		for _, h := range Hits(d, cfg) {
			secret := h.Secret()
			fd := h.Finding(path)
			m := masked.FindStringSubmatch(fd.Masked)
			if m == nil || !strings.HasPrefix(secret, m[1]) || m[2] != strconv.Itoa(utf8.RuneCountInString(secret)) {
				t.Fatalf("%s: masked %q does not fit a %d-character secret", fd.Location, fd.Masked, utf8.RuneCountInString(secret))
			}
			if len(secret) > 4 && (strings.Contains(fd.Location, secret) || strings.Contains(fd.Message, secret)) {
				t.Fatalf("%s: the finding holds its secret", fd.Location)
			}
		}
	})
}

// The .env reader's line finder never panics and only names lines that
// exist.
func FuzzDefinitionLines(f *testing.F) {
	f.Add("A=1\nexport B = 2\n# C=3\n  D:4\nMULTI=\"x\ny=z\"\n")
	f.Fuzz(func(t *testing.T, data string) {
		n := strings.Count(data, "\n") + 1
		for name, line := range definitionLines([]byte(data)) {
			if line < 1 || line > n || name == "" {
				t.Fatalf("%q at line %d of %d", name, line, n)
			}
		}
	})
}
