package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
)

// dumpScript is each server of the round trips: it writes its environment
// and its arguments, NUL-separated, where DUMP and NAME say.
const dumpScript = `env -0 > "$DUMP/$NAME.env"; printf '%s\0' "$@" > "$DUMP/$NAME.args"`

// roundTripConfig is a Claude Desktop config whose servers (github,
// postgres, ai, in that order) hold secrets in env (one a multi-line PEM
// key) and in an argument, and settings.
func roundTripConfig(dump string) string {
	s := auditest.Secrets()
	q := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	srv := func(name string, args []string, env ...string) string {
		env = append(env, "DUMP", dump, "NAME", name)
		var e []string
		for i := 0; i < len(env); i += 2 {
			e = append(e, q(env[i])+": "+q(env[i+1]))
		}
		var a []string
		for _, arg := range append([]string{"-c", dumpScript, "sh"}, args...) {
			a = append(a, q(arg))
		}
		return fmt.Sprintf("    %q: {\n      \"command\": \"sh\",\n      \"args\": [%s],\n      \"env\": {%s}\n    }", name, strings.Join(a, ", "), strings.Join(e, ", "))
	}
	return "{\n  \"mcpServers\": {\n" + strings.Join([]string{
		srv("github", []string{"--read-only"}, "GITHUB_PERSONAL_ACCESS_TOKEN", s["GITHUB_PAT"], "GITHUB_TOOLSETS", "repos,issues"),
		srv("postgres", []string{"postgresql://app:" + s["PG_PASSWORD"] + "@db.example.com:5432/app"}),
		srv("ai", nil, "OPENAI_API_KEY", s["OPENAI_KEY"], "ANTHROPIC_API_KEY", s["ANTHROPIC_KEY"], "SSH_PRIVATE_KEY", s["PEM"], "MAX_CONNECTIONS", "5"),
	}, ",\n") + "\n  }\n}\n"
}

// movedValues are the values wrap must move out of roundTripConfig.
func movedValues() []string {
	s := auditest.Secrets()
	v := []string{s["GITHUB_PAT"], "postgresql://app:" + s["PG_PASSWORD"] + "@db.example.com:5432/app", s["OPENAI_KEY"], s["ANTHROPIC_KEY"], s["PEM"]}
	slices.Sort(v)
	return v
}

// store is one target of the round trips, on its real server.
type store struct {
	to  string
	env []string // what points mcp-secrets at the server
	// values are the values its secrets hold now.
	values func(t *testing.T) []string
	// failSecond makes the store refuse the second server's secret after
	// the first is stored; it returns the first's name and the environment
	// wrap then runs with.
	failSecond func(t *testing.T) (stored string, env []string)
}

// jsonValues reads the values of secrets holding JSON objects.
func jsonValues(t *testing.T, secrets ...string) []string {
	t.Helper()
	var out []string
	for _, s := range secrets {
		var m map[string]string
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("a stored secret is not a JSON object of strings: %v", err)
		}
		out = append(out, slices.Collect(maps.Values(m))...)
	}
	slices.Sort(out)
	return out
}

var servers = []string{"github", "postgres", "ai"}

func dotenvStore(t *testing.T) store {
	file := filepath.Join(t.TempDir(), "mcp.env")
	return store{
		to: "dotenv:" + file,
		values: func(t *testing.T) []string {
			m, err := dotenv.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %o, want 600", file, fi.Mode().Perm())
			}
			v := slices.Collect(maps.Values(m))
			slices.Sort(v)
			return v
		},
	}
}

func awsStore(t *testing.T) store {
	k := testenv.Kumo(t)
	px := k.Proxy(t)
	prefix := k.Name("mcp")
	return store{
		to:  "aws:" + prefix,
		env: px.Env(),
		values: func(t *testing.T) []string {
			var secrets []string
			for _, s := range servers {
				out, err := k.SecretsManager.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(prefix + "/" + s)})
				if err != nil {
					t.Fatalf("%s: %v", s, err)
				}
				secrets = append(secrets, aws.ToString(out.SecretString))
			}
			return jsonValues(t, secrets...)
		},
		failSecond: func(t *testing.T) (string, []string) {
			// The second server's secret exists, so it is written with
			// PutSecretValue, which the proxy refuses.
			_, err := k.SecretsManager.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(prefix + "/postgres"), SecretString: aws.String("{}")})
			if err != nil {
				t.Fatal(err)
			}
			px.Fail("PutSecretValue", testenv.FaultDenied)
			return "aws:" + prefix + "/github", px.Env()
		},
	}
}

func vaultStore(mount string) func(t *testing.T) store {
	return func(t *testing.T) store {
		v := testenv.Vault(t)
		if mount != "secret" {
			v.EnableKV1(t, mount)
		}
		read := func(t *testing.T, path string) map[string]any {
			t.Helper()
			s, err := v.Client().Logical().Read(path)
			if err != nil || s == nil {
				t.Fatalf("%s: %v", path, err)
			}
			if mount == "secret" {
				return s.Data["data"].(map[string]any)
			}
			return s.Data
		}
		return store{
			to:  "vault:" + mount + "/mcp",
			env: []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token},
			values: func(t *testing.T) []string {
				var secrets []string
				for _, s := range servers {
					path := mount + "/mcp/" + s
					if mount == "secret" {
						path = "secret/data/mcp/" + s
					}
					b, _ := json.Marshal(read(t, path))
					secrets = append(secrets, string(b))
				}
				return jsonValues(t, secrets...)
			},
			failSecond: func(t *testing.T) (string, []string) {
				data := mount + "/mcp/github"
				if mount == "secret" {
					data = "secret/data/mcp/github"
				}
				v.Policy(t, "wrap-github", fmt.Sprintf(`
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }
path %q { capabilities = ["create", "update", "read"] }
path "%s/*" { capabilities = ["read"] }
`, data, strings.TrimSuffix(data, "/github")))
				return "vault:" + mount + "/mcp/github", []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.NewToken(t, 0, "wrap-github")}
			},
		}
	}
}

func azureStore(t *testing.T) store {
	s := azuretest.New(t, azuretest.Options{})
	return store{
		to:  "azure:testvault/mcp",
		env: s.Env(t),
		values: func(t *testing.T) []string {
			var secrets []string
			for _, name := range servers {
				v, _, ok := s.Latest("mcp-" + name)
				if !ok {
					t.Fatalf("no secret mcp-%s", name)
				}
				secrets = append(secrets, v)
			}
			return jsonValues(t, secrets...)
		},
		failSecond: func(t *testing.T) (string, []string) {
			s.SetHook(func(w http.ResponseWriter, req azuretest.Request) bool {
				if req.Op != azuretest.OpSetSecret || req.Name != "mcp-postgres" {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"error":{"code":"Forbidden","message":"The user does not have secrets set permission on key vault 'testvault'."}}`)
				return true
			})
			return "azure:testvault/mcp-github", s.Env(t)
		},
	}
}

// The round trips: wrap moves every secret of the config into the store,
// the rewritten config holds none (scan is clean), the store holds the
// original values, and each rewritten entry, started as an MCP client
// starts it (its command, args and env, a minimal PATH), hands its child
// exactly what the original entry did. A second wrap changes nothing.
// Nothing wrap prints, logs or leaves behind holds a value.
func TestWrapRoundTrip(t *testing.T) {
	bin := testenv.CLI(t)
	for name, newStore := range map[string]func(*testing.T) store{
		"dotenv":   dotenvStore,
		"aws":      awsStore,
		"vault-v2": vaultStore("secret"),
		"vault-v1": vaultStore("kv1"),
		"azure":    azureStore,
	} {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			dir := t.TempDir()
			dump := filepath.Join(dir, "dump")
			os.Mkdir(dump, 0o755)
			config := filepath.Join(dir, "claude_desktop_config.json")
			original := roundTripConfig(dump)
			os.WriteFile(config, []byte(original), 0o644)

			// What the original entries hand their children.
			want := map[string]started{}
			for _, s := range servers {
				want[s] = launchEntry(t, config, s, nil)
			}

			out, errOut, code := runCLI(t, bin, st.env, "--log-level", "debug", "wrap", "--to", st.to, "--yes", config)
			if code != 0 {
				t.Fatalf("wrap: exit %d\n%s\n%s", code, out, errOut)
			}
			rewritten := readFile(t, config)
			leakCheck(t, "wrap's output", out+errOut)
			leakCheck(t, "the rewritten config", rewritten)
			if fi, _ := os.Stat(config); fi.Mode().Perm() != 0o644 {
				t.Errorf("config mode %o, want 644 kept", fi.Mode().Perm())
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 2 {
				t.Errorf("%d files beside the config: a temporary or backup copy was left", len(ents)-2)
			}
			for _, s := range servers {
				if !strings.Contains(out, "check: "+s+": ") {
					t.Errorf("wrap did not check %s:\n%s", s, out)
				}
			}

			if got := st.values(t); !slices.Equal(got, movedValues()) {
				t.Errorf("the store holds %d values, not the %d moved", len(got), len(movedValues()))
			}
			if out, errOut, code := runCLI(t, bin, nil, "scan", config); code != 0 {
				t.Errorf("scan of the rewritten config: exit %d\n%s%s", code, out, errOut)
			}
			for _, s := range servers {
				got := launchEntry(t, config, s, st.env)
				if !slices.Equal(got.args, want[s].args) {
					t.Errorf("%s: the child's arguments differ from the original's", s)
				}
				for k, v := range want[s].env {
					if got.env[k] != v {
						t.Errorf("%s: the child's %s differs from the original's", s, k)
					}
				}
			}

			out, errOut, code = runCLI(t, bin, st.env, "wrap", "--to", st.to, "--yes", config)
			if code != 0 || out != "" || !strings.Contains(errOut, "nothing to wrap") || readFile(t, config) != rewritten {
				t.Errorf("a second wrap: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// A store that fails halfway leaves the config byte for byte as it was, and
// the error names what was already stored.
func TestWrapFailsHalfway(t *testing.T) {
	bin := testenv.CLI(t)
	for name, newStore := range map[string]func(*testing.T) store{
		"aws":   awsStore,
		"vault": vaultStore("secret"),
		"azure": azureStore,
	} {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			stored, env := st.failSecond(t)
			dir := t.TempDir()
			config := filepath.Join(dir, "c.json")
			original := roundTripConfig(dir)
			os.WriteFile(config, []byte(original), 0o600)
			out, errOut, code := runCLI(t, bin, env, "wrap", "--to", st.to, "--yes", config)
			if code != 77 {
				t.Errorf("exit %d, want 77 (access denied)\n%s%s", code, out, errOut)
			}
			if readFile(t, config) != original {
				t.Error("the config changed")
			}
			if !strings.Contains(errOut, config+" unchanged; already stored: "+stored+"\n") {
				t.Errorf("stderr does not name what was stored (%s):\n%s", stored, errOut)
			}
			leakCheck(t, "wrap's output", out+errOut)
		})
	}
}

// A secret that already holds another value under a key wrap would write
// stops wrap before anything is stored.
func TestWrapConflict(t *testing.T) {
	bin := testenv.CLI(t)
	k := testenv.Kumo(t)
	prefix := k.Name("mcp")
	ctx := context.Background()
	_, err := k.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(prefix + "/ai"), SecretString: aws.String(`{"OPENAI_API_KEY":"another"}`)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "c.json")
	original := roundTripConfig(dir)
	os.WriteFile(config, []byte(original), 0o600)
	out, errOut, code := runCLI(t, bin, k.Env(), "wrap", "--to", "aws:"+prefix, "--yes", config)
	if code != 78 || !strings.Contains(errOut, "aws:"+prefix+"/ai already holds OPENAI_API_KEY with another value") || !strings.Contains(errOut, "nothing was stored") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	if readFile(t, config) != original {
		t.Error("the config changed")
	}
	if _, err := k.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(prefix + "/github")}); err == nil {
		t.Error("github's secret was stored")
	}
}

// started is what a server's child got: its arguments, and the variables
// its config entry sets.
type started struct {
	args []string
	env  map[string]string
}

// launchEntry starts a server entry of the config as a TypeScript-SDK MCP
// client does: its command, args and env, on top of HOME, LOGNAME, PATH
// (minimal), SHELL, TERM and USER; plus extra, the settings that give
// mcp-secrets access to its store. It returns what the child got.
func launchEntry(t *testing.T, config, server string, extra []string) started {
	t.Helper()
	var cfg struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal([]byte(readFile(t, config)), &cfg); err != nil {
		t.Fatal(err)
	}
	e := cfg.MCPServers[server]
	home := t.TempDir()
	env := []string{"HOME=" + home, "LOGNAME=mcp", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "TERM=dumb", "USER=mcp"}
	for k, v := range e.Env {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(e.Command, e.Args...)
	cmd.Env = append(env, extra...)
	cmd.Dir = home // clients start servers in an arbitrary directory
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", server, err, out)
	}
	dump := e.Env["DUMP"]
	all := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(readFile(t, filepath.Join(dump, server+".env")), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		all[k] = v
	}
	l := started{env: map[string]string{}}
	for k := range e.Env {
		v, ok := all[k]
		if !ok {
			t.Fatalf("%s: the child has no %s", server, k)
		}
		l.env[k] = v
	}
	l.args = strings.Split(strings.TrimSuffix(readFile(t, filepath.Join(dump, server+".args")), "\x00"), "\x00")
	return l
}

// runCLI runs mcp-secrets with a clean environment plus env.
func runCLI(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(testenv.EnvWithout("AWS_", "VAULT_", "AZURE_", "IDENTITY_", "MSI_", "MCP_SECRETS_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "SSL_CERT", "HOME"), "HOME="+t.TempDir()), env...)
	cmd.Dir = t.TempDir()
	return testenv.Run(t, cmd)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// leakCheck fails if text holds any of the test secrets.
func leakCheck(t *testing.T, what, text string) {
	t.Helper()
	for name, v := range auditest.Secrets() {
		if strings.Contains(text, v) || strings.Contains(text, auditest.JSONString(v)) {
			t.Errorf("%s holds the secret %s", what, name)
		}
	}
}
