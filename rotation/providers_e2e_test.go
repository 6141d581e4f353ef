// The tests start their launchers with e2e_test.go's startRun.

//go:build linux

package rotation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
)

// fast polls every second and restarts soon after a change.
var fast = []string{"--poll-interval", "1s", "--debounce", "100ms"}

// A change at each store reaches a new child, through the real provider,
// within about a poll interval; a new version of the same value restarts
// nothing.
func TestStoreChangeRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts real servers")
	}
	cli := testenv.CLI(t)
	tests := []struct {
		name  string
		setup func(t *testing.T) (env []string, set func(value string))
	}{
		{"aws (kumo)", func(t *testing.T) ([]string, func(string)) {
			k := testenv.Kumo(t)
			name := k.Name("app")
			_, err := k.SecretsManager.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(`{"token":"v1"}`)})
			must(t, err)
			return append(k.Env(), "TOKEN=$<aws:"+name+"#token>"), func(v string) {
				_, err := k.SecretsManager.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(`{"token":"` + v + `"}`)})
				must(t, err)
			}
		}},
		{"vault kv v2", func(t *testing.T) ([]string, func(string)) {
			v := testenv.Vault(t)
			v.Write(t, "secret/app", map[string]any{"token": "v1"})
			return []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "TOKEN=$<vault:secret/app#token>"},
				func(s string) { v.Write(t, "secret/app", map[string]any{"token": s}) }
		}},
		{"vault kv v1", func(t *testing.T) ([]string, func(string)) {
			v := testenv.Vault(t)
			v.EnableKV1(t, "kv1")
			v.Write(t, "kv1/app", map[string]any{"token": "v1"})
			return []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "TOKEN=$<vault:kv1/app#token>"},
				func(s string) { v.Write(t, "kv1/app", map[string]any{"token": s}) }
		}},
		{"azure (test server)", func(t *testing.T) ([]string, func(string)) {
			s := azuretest.New(t, azuretest.Options{})
			s.Set("app", "v1")
			return append(s.Env(t), "TOKEN=$<azure:testvault/app>"), func(v string) { s.Set("app", v) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, set := tt.setup(t)
			l := startRun(t, cli, t.TempDir(), env, fast...)
			if got := l.waitStarts(1, 30*time.Second); got[0] != "v1" {
				t.Fatalf("started with %q", got[0])
			}
			set("v1") // a new version, the same value
			time.Sleep(3 * time.Second)
			if n := len(l.starts()); n != 1 {
				t.Fatalf("%d starts after a new version with the same value, want 1", n)
			}
			set("v2")
			if got := l.waitStarts(2, 30*time.Second); got[1] != "v2" {
				t.Errorf("restarted with %q, want v2", got[1])
			}
		})
	}
}

// A store that goes down never stops or restarts the child, is logged once,
// and a change after it comes back is picked up.
func TestStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts real servers")
	}
	v := testenv.VaultFile(t)
	v.Write(t, "secret/app", map[string]any{"token": "v1"})
	l := startRun(t, testenv.CLI(t), t.TempDir(), []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "TOKEN=$<vault:secret/app#token>"}, fast...)
	l.waitStarts(1, 30*time.Second)
	first := l.starts()[0]
	v.Stop()
	time.Sleep(8 * time.Second) // polls fail and back off
	if s := l.starts(); len(s) != 1 {
		t.Fatalf("starts during the outage: %q", s)
	}
	if l.cmd.ProcessState != nil {
		t.Fatal("the launcher ended during the outage")
	}
	if n := strings.Count(l.log(), "provider degraded"); n != 1 {
		t.Errorf("degraded logged %d times, want once", n)
	}
	v.Start(t)
	v.Write(t, "secret/app", map[string]any{"token": "v2"})
	// Back within the backoff's cap (10s at a 1s interval), then a poll.
	got := l.waitStarts(2, 30*time.Second)
	if got[1] != "v2" || l.starts()[0] != first {
		t.Errorf("starts %q, want the first child kept until v2", l.starts())
	}
	if !strings.Contains(l.log(), "provider recovered") {
		t.Errorf("no recovery logged")
	}
}

// Database credentials with a short TTL and max TTL are renewed while they
// can be, and replaced — a new child with new credentials that log in —
// before the old ones expire.
func TestLeasedCredentialsReplacedBeforeMaxTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts real servers")
	}
	pg := testenv.Postgres(t)
	v := testenv.Vault(t)
	v.EnableDatabase(t, pg, 6*time.Second, 12*time.Second)
	path := "database/creds/" + testenv.DatabaseRole
	cli := testenv.CLI(t)
	l := startRun(t, cli, t.TempDir(), []string{
		"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token,
		"TOKEN=$<vault:" + path + "#username>:$<vault:" + path + "#password>",
	}, fast...)
	creds := l.waitStarts(1, 30*time.Second)
	start := time.Now() // just after the first lease was created
	user, pass, _ := strings.Cut(creds[0], ":")
	if err := pg.CanLogin(user, pass); err != nil {
		t.Fatalf("the first credentials do not log in: %v", err)
	}
	creds = l.waitStarts(2, 30*time.Second)
	if took := time.Since(start); took > 12*time.Second {
		t.Errorf("replaced after %v, after the max TTL (12s)", took)
	}
	user2, pass2, _ := strings.Cut(creds[1], ":")
	if user2 == user {
		t.Errorf("the new child got the same user %q", user)
	}
	if err := pg.CanLogin(user2, pass2); err != nil {
		t.Errorf("the new credentials do not log in: %v", err)
	}
	if !strings.Contains(l.log(), "lease renewed") || !strings.Contains(l.log(), "lease near its maximum TTL") {
		t.Errorf("log:\n%s", l.log())
	}
}
