package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
)

// setStore is a store of JSON objects on its real server: set adds a key
// to one of its secrets.
type setStore struct {
	env  []string
	ref  func(name string) string // a reference to key TOKEN of secret name
	seed func(t *testing.T, name, value string)
	read func(t *testing.T, name string) string
}

// set '$<STORE:NAME#TOKEN>' adds the key to a secret, keeping its others,
// and creates a secret that does not exist yet; each store's own client
// reads back what it holds.
func TestSetStores(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts real servers")
	}
	bin := testenv.CLI(t)
	vault := func(mount string) func(t *testing.T) setStore {
		return func(t *testing.T) setStore {
			v := testenv.Vault(t)
			data := mount + "/data/"
			if mount != "secret" {
				v.EnableKV1(t, mount)
				data = mount + "/"
			}
			return setStore{
				env: []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token},
				ref: func(name string) string { return "$<vault:" + mount + "/" + name + "#TOKEN>" },
				seed: func(t *testing.T, name, value string) {
					var m map[string]any
					json.Unmarshal([]byte(value), &m)
					v.Write(t, mount+"/"+name, m)
				},
				read: func(t *testing.T, name string) string {
					s, err := v.Client().Logical().Read(data + name)
					if err != nil || s == nil {
						t.Fatalf("%s: %v", name, err)
					}
					m := s.Data
					if mount == "secret" {
						m = s.Data["data"].(map[string]any)
					}
					b, _ := json.Marshal(m)
					return string(b)
				},
			}
		}
	}
	for name, newStore := range map[string]func(*testing.T) setStore{
		"aws": func(t *testing.T) setStore {
			k := testenv.Kumo(t)
			ctx := context.Background()
			return setStore{
				env: k.Env(),
				ref: func(name string) string { return "$<aws:" + k.Name(name) + "#TOKEN>" },
				seed: func(t *testing.T, name, value string) {
					if _, err := k.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(k.Name(name)), SecretString: aws.String(value)}); err != nil {
						t.Fatal(err)
					}
				},
				read: func(t *testing.T, name string) string {
					out, err := k.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(k.Name(name))})
					if err != nil {
						t.Fatal(err)
					}
					return aws.ToString(out.SecretString)
				},
			}
		},
		"vault-v2": vault("secret"),
		"vault-v1": vault("kv1"),
		"azure": func(t *testing.T) setStore {
			s := azuretest.New(t, azuretest.Options{})
			return setStore{
				env:  s.Env(t),
				ref:  func(name string) string { return "$<azure:testvault/" + name + "#TOKEN>" },
				seed: func(t *testing.T, name, value string) { s.Set(name, value) },
				read: func(t *testing.T, name string) string {
					v, _, ok := s.Latest(name)
					if !ok {
						t.Fatalf("no secret %s", name)
					}
					return v
				},
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			st.seed(t, "existing", `{"OTHER":"kept"}`)
			for secret, want := range map[string]string{
				"existing": `{"OTHER":"kept","TOKEN":"tok-set-1"}`,
				"created":  `{"TOKEN":"tok-set-1"}`,
			} {
				cmd := exec.Command(bin, "set", st.ref(secret))
				cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, st.env...)
				cmd.Stdin = strings.NewReader("tok-set-1\n")
				stdout, stderr, code := testenv.Run(t, cmd)
				if code != 0 || !strings.Contains(stdout, "stored "+st.ref(secret)) {
					t.Fatalf("%s: exit %d\n%s%s", secret, code, stdout, stderr)
				}
				if strings.Contains(stdout+stderr, "tok-set-1") {
					t.Errorf("the output shows the value:\n%s%s", stdout, stderr)
				}
				if got := canonical(st.read(t, secret)); got != want {
					t.Errorf("%s holds %s, want %s", secret, got, want)
				}
			}
		})
	}
}

// canonical is a JSON object with its keys sorted, or the text as it is.
func canonical(s string) string {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return s
	}
	b, _ := json.Marshal(m)
	return string(b)
}
