// The child is a sh script timing its starts with GNU date's %N.

//go:build linux

package rotation_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
)

// timedChild records each start as "UNIXNANO VALUE", so latency is measured
// from the change at the source to a child started with the new value.
const timedChild = `echo "$(date +%s%N) $TOKEN" >> starts.log; trap "exit 0" TERM; while :; do sleep 0.05; done`

// latencies changes the value n times through set and returns how long each
// took to reach a new child, which logs its starts to dir/starts.log.
func latencies(b *testing.B, dir string, n int, set func(string)) []time.Duration {
	b.Helper()
	var out []time.Duration
	for i := range n {
		// At a random phase of the poll, as changes come in life.
		time.Sleep(200*time.Millisecond + rand.N(time.Second))
		value := fmt.Sprintf("rotated-%d-%d", i, time.Now().UnixNano())
		changed := time.Now()
		set(value)
		started := waitValue(b, filepath.Join(dir, "starts.log"), value, 60*time.Second)
		out = append(out, started.Sub(changed))
	}
	return out
}

// waitValue waits for a start line with value and returns its time.
func waitValue(b *testing.B, log, value string, timeout time.Duration) time.Time {
	b.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		data, _ := os.ReadFile(log)
		for line := range strings.Lines(string(data)) {
			ts, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			if v == value {
				n, _ := strconv.ParseInt(ts, 10, 64)
				return time.Unix(0, n)
			}
		}
	}
	b.Fatalf("no child started with %s", value)
	return time.Time{}
}

func report(b *testing.B, d []time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	b.ReportMetric(float64(s[0])/1e6, "min-ms")
	b.ReportMetric(float64(s[len(s)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(s[len(s)-1])/1e6, "max-ms")
}

func runTimed(b *testing.B, cli, dir string, env []string, flags ...string) {
	b.Helper()
	cmd := exec.Command(cli, append(append([]string{"run"}, flags...), "--", "sh", "-c", timedChild)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
}

// BenchmarkRotationLatency: a value changed at the source until a child
// started with it, per store, polling every second (debounce 50ms).
func BenchmarkRotationLatency(b *testing.B) {
	cli := testenv.CLI(b)
	poll := []string{"--poll-interval", "1s", "--debounce", "50ms"}
	stores := []struct {
		name  string
		flags []string
		setup func(b *testing.B) ([]string, func(string))
	}{
		{"aws", poll, func(b *testing.B) ([]string, func(string)) {
			k := testenv.Kumo(b)
			name := k.Name("app")
			sm := k.SecretsManager
			if _, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v0")}); err != nil {
				b.Fatal(err)
			}
			return append(k.Env(), "TOKEN=$<aws:"+name+">"), func(v string) {
				sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(v)})
			}
		}},
		{"vault-kv2", poll, func(b *testing.B) ([]string, func(string)) {
			v := testenv.Vault(b)
			v.Write(b, "secret/app", map[string]any{"token": "v0"})
			return []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "TOKEN=$<vault:secret/app#token>"},
				func(s string) { v.Write(b, "secret/app", map[string]any{"token": s}) }
		}},
		{"vault-kv1", poll, func(b *testing.B) ([]string, func(string)) {
			v := testenv.Vault(b)
			v.EnableKV1(b, "kv1")
			v.Write(b, "kv1/app", map[string]any{"token": "v0"})
			return []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "TOKEN=$<vault:kv1/app#token>"},
				func(s string) { v.Write(b, "kv1/app", map[string]any{"token": s}) }
		}},
		{"azure", poll, func(b *testing.B) ([]string, func(string)) {
			s := azuretest.New(b, azuretest.Options{})
			s.Set("app", "v0")
			return append(s.Env(b), "TOKEN=$<azure:testvault/app>"), func(v string) { s.Set("app", v) }
		}},
		{"dotenv-default-debounce", nil, dotenvStore},
		{"dotenv-debounce-50ms", []string{"--debounce", "50ms"}, dotenvStore},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			dir := b.TempDir()
			b.Chdir(dir)
			env, set := st.setup(b)
			runTimed(b, cli, dir, env, st.flags...)
			waitValue(b, filepath.Join(dir, "starts.log"), "v0", 60*time.Second)
			var all []time.Duration
			for b.Loop() {
				all = append(all, latencies(b, dir, 5, set)...)
			}
			report(b, all)
		})
	}
}

// dotenvStore is a .env in the working directory, rewritten in place.
func dotenvStore(b *testing.B) ([]string, func(string)) {
	write := func(v string) {
		if err := os.WriteFile(".env", []byte("TOKEN="+v+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	write("v0")
	return []string{"TOKEN=$<TOKEN>"}, write
}

// BenchmarkVersusConsulTemplate: the same KV v2 change against the same
// Vault dev server, both polling about every second, until each tool's
// restarted child has the new value. consul-template (the engine of Vault
// Agent's templating) runs in exec mode; its child reads the rendered file.
func BenchmarkVersusConsulTemplate(b *testing.B) {
	ct := os.Getenv("MCP_SECRETS_CONSUL_TEMPLATE")
	if ct == "" {
		b.Fatal("MCP_SECRETS_CONSUL_TEMPLATE is unset: make bench installs consul-template v0.41.1 and sets it")
	}
	cli := testenv.CLI(b)
	v := testenv.Vault(b)
	v.Write(b, "secret/app", map[string]any{"DB_PASSWORD": "v0"})
	set := func(s string) { v.Write(b, "secret/app", map[string]any{"DB_PASSWORD": s}) }

	ours := b.TempDir()
	runTimed(b, cli, ours, []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token, "TOKEN=$<vault:secret/app#DB_PASSWORD>"},
		"--poll-interval", "1s", "--debounce", "50ms")
	waitValue(b, filepath.Join(ours, "starts.log"), "v0", 60*time.Second)

	theirs := b.TempDir()
	pw := filepath.Join(theirs, "pw")
	config := fmt.Sprintf(`vault {
  address = %q
  token = %q
  renew_token = false
  default_lease_duration = "1s"
}
template {
  contents = "{{ with secret \"secret/data/app\" }}{{ .Data.data.DB_PASSWORD }}{{ end }}"
  destination = %q
  error_on_missing_key = true
}
exec {
  command = ["sh", "-c", "echo \"$(date +%%s%%N) $(cat %s)\" >> starts.log; trap 'exit 0' TERM; while :; do sleep 0.05; done"]
  kill_signal = "SIGTERM"
  splay = "0s"
}
`, v.Addr, v.Token, pw, pw)
	cfg := filepath.Join(theirs, "ct.hcl")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(ct, "-config="+cfg)
	cmd.Dir = theirs
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + theirs}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	waitValue(b, filepath.Join(theirs, "starts.log"), "v0", 60*time.Second)

	var a, c []time.Duration
	for b.Loop() {
		for i := range 10 {
			value := fmt.Sprintf("both-%d-%d", i, time.Now().UnixNano())
			changed := time.Now()
			set(value)
			a = append(a, waitValue(b, filepath.Join(ours, "starts.log"), value, 60*time.Second).Sub(changed))
			c = append(c, waitValue(b, filepath.Join(theirs, "starts.log"), value, 60*time.Second).Sub(changed))
			time.Sleep(300*time.Millisecond + rand.N(time.Second))
		}
	}
	slices.Sort(a)
	slices.Sort(c)
	b.ReportMetric(float64(a[len(a)/2])/1e6, "mcp-secrets-p50-ms")
	b.ReportMetric(float64(a[len(a)-1])/1e6, "mcp-secrets-max-ms")
	b.ReportMetric(float64(c[len(c)/2])/1e6, "consul-template-p50-ms")
	b.ReportMetric(float64(c[len(c)-1])/1e6, "consul-template-max-ms")
	b.ReportMetric(float64(c[len(c)/2])/float64(a[len(a)/2]), "p50-ratio")
}

// BenchmarkPollCalls counts the Secrets Manager calls one poll of 40
// secrets costs, through the batch API and without it (kumo), and reports
// calls per secret per hour at the default interval (60s).
func BenchmarkPollCalls(b *testing.B) {
	cli := testenv.CLI(b)
	for _, batch := range []bool{true, false} {
		name := "BatchGetSecretValue"
		if !batch {
			name = "DescribeSecret"
		}
		b.Run(name, func(b *testing.B) {
			k := testenv.Kumo(b)
			p := k.Proxy(b)
			if !batch {
				p.DisableBatch()
			}
			const n = 40
			env := p.Env()
			for i := range n {
				id := k.Name(fmt.Sprintf("s%d", i))
				if _, err := k.SecretsManager.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String("v")}); err != nil {
					b.Fatal(err)
				}
				env = append(env, fmt.Sprintf("S%d=$<aws:%s>", i, id))
			}
			dir := b.TempDir()
			cmd := exec.Command(cli, "run", "--poll-interval", "1s", "--", "sleep", "600")
			cmd.Dir, cmd.Env = dir, append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
			time.Sleep(2 * time.Second) // started, and its first poll done
			p.Reset()
			const polls = 5
			for b.Loop() {
				time.Sleep(polls * time.Second)
			}
			calls := p.Calls("BatchGetSecretValue") + p.Calls("DescribeSecret")
			perPoll := float64(calls) / polls / float64(b.N)
			b.ReportMetric(perPoll, "calls/poll")
			b.ReportMetric(perPoll/n*60, "calls/secret/hour")
		})
	}
}
