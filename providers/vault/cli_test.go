package vault_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// childScript prints what the child sees: a digest of DB_PASSWORD (the
// launcher may redact its output, never a digest) and whether any Vault
// credential reached it.
const childScript = `printf 'sha=%s\n' "$(printf %s "$DB_PASSWORD" | sha256sum | cut -d' ' -f1)"
printf 'token=%s role_id=%s secret_id=%s addr=%s\n' "${VAULT_TOKEN-unset}" "${VAULT_ROLE_ID-unset}" "${VAULT_SECRET_ID-unset}" "${VAULT_ADDR-unset}"`

func TestCLI(t *testing.T) {
	bin := testenv.CLI(t)
	v := testenv.Vault(t)
	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1})
	roleID, secretID := v.EnableAppRole(t)
	v.Policy(t, "other-only", `path "secret/data/other" { capabilities = ["read"] }`)
	weak := v.NewToken(t, time.Hour, "other-only")
	closed := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	const local = "local-dotenv-value-4c1e"

	tests := []struct {
		name   string
		cmd    string // run or exec
		env    []string
		code   int
		stdout []string // lines the child prints
		stderr string   // in the launcher's stderr
		within time.Duration
	}{
		{"token", "run", []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "DB_PASSWORD=$<vault:secret/app#password>"},
			0, []string{"sha=" + sha(kv2PasswordV1), "token=unset role_id=unset secret_id=unset addr=" + v.Addr}, "", 0},
		{"token, exec", "exec", []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "DB_PASSWORD=$<vault:secret/data/app#password>"},
			0, []string{"sha=" + sha(kv2PasswordV1), "token=unset role_id=unset secret_id=unset addr=" + v.Addr}, "", 0},
		{"AppRole", "run", []string{"VAULT_ADDR=" + v.Addr, "VAULT_ROLE_ID=" + roleID, "VAULT_SECRET_ID=" + secretID, "DB_PASSWORD=$<vault:secret/app>"},
			0, []string{"sha=" + sha(kv2PasswordV1), "token=unset role_id=unset secret_id=unset addr=" + v.Addr}, "", 0},
		{"not configured: .env fallback", "run", []string{"DB_PASSWORD=$<vault:secret/app#password>"},
			0, []string{"sha=" + sha(local), "token=unset role_id=unset secret_id=unset addr=unset"}, "", 0},
		{"not found", "run", []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "DB_PASSWORD=$<vault:secret/missing#password>"},
			78, nil, "mcp-secrets: DB_PASSWORD: $<vault:secret/missing#password>: vault: not found: read secret/data/missing", 0},
		{"denied", "run", []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + weak, "DB_PASSWORD=$<vault:secret/app#password>"},
			77, nil, "mcp-secrets: DB_PASSWORD: $<vault:secret/app#password>: vault: access denied: read secret/data/app: permission denied", 0},
		{"unreachable", "run", []string{"VAULT_ADDR=" + closed, "VAULT_TOKEN=" + v.Token, "DB_PASSWORD=$<vault:secret/app#password>"},
			69, nil, "connection refused", 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, ".env", "DB_PASSWORD="+local+"\n")
			cmd := exec.Command(bin, tt.cmd, "--", "sh", "-c", childScript)
			cmd.Dir = dir
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, tt.env...)
			begin := time.Now()
			stdout, stderr, code := testenv.Run(t, cmd)
			took := time.Since(begin)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			for i, want := range tt.stdout {
				if i >= len(lines) || lines[i] != want {
					t.Errorf("child printed %q, want line %d = %q", lines, i, want)
				}
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q does not say %q", stderr, tt.stderr)
			}
			for _, secret := range []string{kv2PasswordV1, secretID, weak} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("a secret value or credential shows in the output:\n%s%s", stdout, stderr)
				}
			}
			if tt.within > 0 && took > tt.within {
				t.Errorf("took %v, want within %v", took, tt.within)
			}
		})
	}
}
