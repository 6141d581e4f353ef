package audit

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
	"github.com/mcp-secrets/mcp-secrets/providers"
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
	f.Add("c.json", `{"mcpServers": {"a": {"command": "x", "env": {"K": "`+s["GITHUB_PAT"]+`"}}, "b": 5}}`)
	f.Add("c.json", `{"mcpServers": {"a": {"args": ["`+s["STRIPE_KEY"]+`", 1]}}}`)
	f.Add("c.toml", "[mcp_servers.a]\nenv = { K = '"+s["SLACK_TOKEN"]+"' }\n[[mcp_servers.a.http_headers]]\n")
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
			// A config is scanned whole or not at all: a misshapen one is
			// an error of its own (mcpconfig's fuzz target checks its text).
			if !errors.Is(err, providers.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed (exit 65)", err)
			}
			return
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

// Whatever a .env file holds, its findings are at lines that exist and
// set their variable, and show at most 4 characters of their secret; a file
// dotenv refuses is refused with its name and a line, never its content.
func FuzzDefinitionLines(f *testing.F) {
	s := auditest.Secrets()
	valid := "A=1\nexport B = " + s["GITHUB_PAT"] + "\n# C=3\nMULTI=\"x\ny=z\"\nTOKEN=\"" + s["OPENAI_KEY"] + "\" # c\r\n"
	f.Add(valid)
	f.Add("A=1\n  D:4\nTOKEN=" + s["OPENAI_KEY"] + "\n")
	f.Add("A B=" + s["STRIPE_KEY"] + "\n")
	f.Add("K=\"" + s["PEM"] + "\"\nK2='" + s["SLACK_TOKEN"] + "' x\n")
	d, err := rules.New()
	if err != nil {
		f.Fatal(err)
	}
	sc := &Scanner{Detector: d}
	t := target{path: "/p/.env", display: ".env", dotenv: true}
	// The control: a valid seed reaches the findings' checks below.
	if fs, err := sc.dotenvSecrets(t, []byte(valid)); err != nil || len(fs) != 2 {
		f.Fatalf("the valid seed: %d findings, %v; want 2", len(fs), err)
	}
	f.Fuzz(func(tt *testing.T, data string) {
		fs, err := sc.dotenvSecrets(t, []byte(data))
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) || !lineError.MatchString(err.Error()) {
				tt.Fatalf("error %q is not .env: line N: malformed: REASON", err)
			}
			for _, v := range s {
				if strings.Contains(err.Error(), v) {
					tt.Fatalf("the error holds a secret: %q", err)
				}
			}
			return
		}
		lines := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
		for _, fd := range fs {
			// A finding names its variable, at the line that sets it.
			sets := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(fd.Location) + `\s*=`)
			if fd.Line < 1 || fd.Line > len(lines) || fd.File != ".env" || !sets.MatchString(lines[fd.Line-1]) {
				tt.Fatalf("finding of %q at line %d of %d: %q", fd.Location, fd.Line, len(lines), lines[min(max(fd.Line, 1), len(lines))-1])
			}
			if !masked.MatchString(fd.Masked) {
				tt.Fatalf("%s: masked %q", fd.Location, fd.Masked)
			}
		}
	})
}

// lineError is the form of a .env file's parse error.
var lineError = regexp.MustCompile(`^\.env: line [0-9]+: malformed: [a-zA-Z ,"_.()=]+$`)
