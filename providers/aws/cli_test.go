package aws_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

// TestCLI runs mcp-secrets check and run against kumo behind the proxy.
func TestCLI(t *testing.T) {
	mcpSecrets := testenv.CLI(t)
	f := newFixture(t)
	const password = "pw-from-aws-0123456789"
	_, version := f.create(t, "app", `{"user":"app-user","password":"`+password+`"}`, nil)
	f.create(t, "locked", password, nil)
	f.proxy.Fail(f.prefix+"locked", testenv.FaultDenied)
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	ref := func(path string) string { return "$<aws:" + f.prefix + path + ">" }

	for _, tc := range []struct {
		name   string
		args   []string
		env    []string // after the launcher's base environment
		code   int
		stdout []string // each must appear
		stderr string   // must appear, on the one line of stderr
	}{
		{
			name: "check",
			args: []string{"check"},
			env:  []string{"DB_USER=" + ref("app#user"), "DB_PASSWORD=" + ref("app#password")},
			stdout: []string{
				"DB_PASSWORD", "aws", ref("app#password"), version, "pw-f…(22 chars)",
				"DB_USER", ref("app#user"), "…(8 chars)",
			},
		},
		{
			name:   "run: values in, launcher credentials out",
			args:   []string{"run", "--", "sh", "-c", `test "$DB_PASSWORD" = ` + password + ` && test "$DB_USER" = app-user && echo values-ok; env | cut -d= -f1 | grep ^AWS_`},
			env:    []string{"DB_USER=" + ref("app#user"), "DB_PASSWORD=" + ref("app#password")},
			stdout: []string{"values-ok", "\nAWS_REGION\n"},
		},
		{
			name:   "not found",
			args:   []string{"check"},
			env:    []string{"DB=" + ref("missing")},
			code:   78,
			stderr: "DB: " + ref("missing") + ": aws: not found: ResourceNotFoundException",
		},
		{
			name:   "access denied",
			args:   []string{"run", "--", "true"},
			env:    []string{"DB=" + ref("locked")},
			code:   77,
			stderr: "DB: " + ref("locked") + ": aws: access denied: AccessDeniedException",
		},
		{
			name:   "unreachable",
			args:   []string{"run", "--", "true"},
			env:    []string{"DB=" + ref("app#user"), "AWS_ENDPOINT_URL=" + closed},
			code:   69,
			stderr: "DB: " + ref("app#user") + ": aws: unavailable: dial tcp",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(mcpSecrets, tc.args...)
			cmd.Dir = dir // no ./.env
			cmd.Env = append(testenv.EnvWithout("AWS_", "MCP_SECRETS_"), "HOME="+dir)
			cmd.Env = append(cmd.Env, f.proxy.Env()...)
			cmd.Env = append(cmd.Env, "AWS_SESSION_TOKEN=launcher-session-token")
			cmd.Env = append(cmd.Env, tc.env...)
			begin := time.Now()
			out, errOut, code := testenv.Run(t, cmd)
			took := time.Since(begin)
			t.Logf("exit %d in %v\nstdout:\n%s\nstderr:\n%s", code, took.Round(time.Millisecond), out, errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if tc.stderr != "" && (!strings.Contains(errOut, tc.stderr) || strings.Count(errOut, "\n") != 1) {
				t.Errorf("stderr: want one line with %q, got:\n%s", tc.stderr, errOut)
			}
			for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
				if strings.Contains(out, name) {
					t.Errorf("the child saw the launcher's %s:\n%s", name, out)
				}
			}
			if strings.Contains(out+errOut, password) {
				t.Errorf("the launcher printed the password:\nstdout:\n%s\nstderr:\n%s", out, errOut)
			}
			if took > 10*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}
