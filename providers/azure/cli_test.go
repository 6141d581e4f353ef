package azure

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
)

// The CLI as a user runs it, in its own process: DefaultAzureCredential (an
// App Service managed identity here) and the SDK's default transport find
// the test server through azuretest.Server.Env alone.
func TestCLI(t *testing.T) {
	t.Parallel()
	bin := testenv.CLI(t)
	s := azuretest.New(t, azuretest.Options{})
	apiVersion := s.Set("api-key", "sk-live-cli-0123456789")
	s.Set("db", `{"user":"app","password":"cli-db-pw-98765"}`)
	s.Set("locked", "locked-value-13579")
	s.Deny("locked")
	values := []string{"sk-live-cli-0123456789", "cli-db-pw-98765", "locked-value-13579", "launcher-client-secret"}

	env := append(testenv.EnvWithout("AZURE_", "IDENTITY_", "MSI_", "MCP_SECRETS_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "SSL_CERT"),
		"HOME="+t.TempDir())
	env = append(env, s.Env(t)...)
	// A launcher credential the child must not inherit (unused here: the
	// managed identity answers, as AZURE_TOKEN_CREDENTIALS says).
	env = append(env, "AZURE_CLIENT_SECRET=launcher-client-secret")

	tests := []struct {
		name     string
		vars     []string
		args     []string
		stop     bool // the server is down
		code     int
		stdout   []string // each in stdout
		stderr   string   // in stderr
		noStdout string
	}{
		{
			name:     "run",
			vars:     []string{"API_KEY=$<azure:testvault/api-key>", "DB_URL=postgres://$<azure:testvault/db#user>:$<azure:testvault/db#password>@db/app"},
			args:     []string{"run", "--redact=false", "--", "env"}, // the values themselves, as the child got them
			stdout:   []string{"\nAPI_KEY=sk-live-cli-0123456789\n", "\nDB_URL=postgres://app:cli-db-pw-98765@db/app\n", "\nIDENTITY_ENDPOINT="},
			noStdout: "AZURE_CLIENT_SECRET",
		},
		{
			name:   "check shows the version",
			vars:   []string{"API_KEY=$<azure:" + s.URL() + "/secrets/api-key>"},
			args:   []string{"check"},
			stdout: []string{apiVersion, "sk-l…(22 chars)"},
		},
		{
			name:   "not found",
			vars:   []string{"API_KEY=$<azure:testvault/api-key>", "MISSING=$<azure:testvault/missing>"},
			args:   []string{"run", "--", "true"},
			code:   78,
			stderr: "mcp-secrets: MISSING: $<azure:testvault/missing>: azure: not found: SecretNotFound (404): A secret with (name/id) missing was not found",
		},
		{
			name:   "denied",
			vars:   []string{"API_KEY=$<azure:testvault/api-key>", "LOCKED=$<azure:testvault/locked>"},
			args:   []string{"check"},
			code:   77,
			stderr: "mcp-secrets: LOCKED: $<azure:testvault/locked>: azure: access denied: Forbidden/ForbiddenByRbac (403)",
		},
		{
			name:   "bad reference",
			vars:   []string{"API_KEY=$<azure:testvault/api_key>"},
			args:   []string{"check"},
			code:   78,
			stderr: `mcp-secrets: API_KEY: $<azure:testvault/api_key>: azure: secret name "api_key": want 1 to 127 letters, digits and dashes`,
		},
		{
			name:   "unreachable",
			vars:   []string{"API_KEY=$<azure:testvault/api-key>"},
			args:   []string{"run", "--", "true"},
			stop:   true,
			code:   69,
			stderr: "mcp-secrets: API_KEY: $<azure:testvault/api-key>: azure: unavailable: testvault.vault.azure.net unreachable: proxyconnect tcp: dial tcp 127.0.0.1:",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stop {
				s.Stop()
				defer func() {
					if err := s.Start(); err != nil {
						t.Fatal(err)
					}
				}()
			}
			cmd := exec.CommandContext(t.Context(), bin, tc.args...)
			cmd.Env = append(append([]string(nil), env...), tc.vars...)
			cmd.Dir = t.TempDir()
			start := time.Now()
			stdout, stderr, code := testenv.Run(t, cmd)
			took := time.Since(start)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tc.code, stderr)
			}
			if took > 8*time.Second {
				t.Errorf("took %v", took)
			}
			out := "\n" + stdout
			for _, want := range tc.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if tc.noStdout != "" && strings.Contains(out, tc.noStdout) {
				t.Errorf("stdout has %q:\n%s", tc.noStdout, out)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			noValues(t, "stderr", stderr, values...)
			if tc.name != "run" {
				noValues(t, "stdout", stdout, values...)
			}
		})
	}
}
