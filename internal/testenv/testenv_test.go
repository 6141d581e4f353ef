// These tests start /bin/sh scripts and check process groups with kill(2).

//go:build unix

package testenv

// Start times observed on the 2-core machine with other sessions loading it
// (load average 6-7), from the helpers' own t.Logf lines: Vault dev 250-750
// ms, VaultFile 330-880 ms (restart + unseal 290-400 ms), Postgres 1.6-5.9 s
// (initdb 1.4-5.2 s of it), kumo 3-22 ms. The whole package: 12-15 s.
// database/creds answered in 7-13 ms.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/hashicorp/vault/api"
)

// assertGone checks that the process is gone and no member of its process
// group is alive (the servers here lead their own group; killed orphans may
// linger as zombies until init reaps them).
func assertGone(t *testing.T, what string, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("%s: no pid recorded", what)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("%s: process %d still exists after cleanup (kill 0: %v)", what, pid, err)
	}
	if groupLive(pid) {
		out, _ := exec.Command("ps", "-o", "pid,ppid,pgid,stat,cmd", "-e").CombinedOutput()
		t.Errorf("%s: process group %d still has live members after cleanup:\n%s", what, pid, out)
	}
}

// pid is the server's process id, 0 when stopped.
func (v *VaultServer) pid() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.proc == nil {
		return 0
	}
	return v.proc.pid()
}

// pid is the postmaster's process id.
func (pg *PostgresServer) pid() int {
	if pg.proc == nil {
		return 0
	}
	return pg.proc.pid()
}

func assertNoDir(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s left behind (stat: %v)", dir, err)
	}
}

// assertOnlyPort checks the server left PORT+1 alone (Vault's cluster
// listener takes it unless disable_clustering is set).
func assertOnlyPort(t *testing.T, addr string) {
	t.Helper()
	_, portStr, _ := strings.Cut(strings.TrimPrefix(addr, "http://"), ":")
	port, _ := strconv.Atoi(portStr)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
	if err != nil {
		t.Errorf("port %d (server port + 1) is taken, likely by Vault's cluster listener: %v", port+1, err)
		return
	}
	l.Close()
}

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("FreePort = %d", p)
	}
}

func TestEnvWithout(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "leak")
	t.Setenv("PGHOST", "elsewhere")
	for _, kv := range EnvWithout("VAULT_", "PG") {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "PG") {
			t.Errorf("EnvWithout kept %s", kv)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 4}
	fmt.Fprint(b, "abc")
	fmt.Fprint(b, "def")
	if got := b.String(); got != "cdef" {
		t.Fatalf("tail = %q, want cdef", got)
	}
}

// fatalTB records a Fatalf/Skipf instead of ending the real test, and holds
// cleanups until runFatal runs them, so failure paths can be checked.
type fatalTB struct {
	testing.TB
	msg      string
	skipped  bool
	cleanups []func()
}

func (f *fatalTB) Helper()           {}
func (f *fatalTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *fatalTB) Skipf(format string, args ...any) {
	f.skipped = true
	f.Fatalf(format, args...)
}

// runFatal runs fn on its own goroutine (Fatalf ends it), then the cleanups
// it registered, last first, as the testing package would.
func runFatal(t *testing.T, fn func(testing.TB)) *fatalTB {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f
}

func TestVaultMissingBinaryFails(t *testing.T) {
	t.Setenv("MCP_SECRETS_VAULT_BIN", "/nonexistent/vault")
	f := runFatal(t, func(tb testing.TB) { Vault(tb) })
	if f.msg == "" || !strings.Contains(f.msg, "make vault") {
		t.Fatalf("want a failure naming `make vault`, got %q", f.msg)
	}
	if f.skipped != testing.Short() {
		t.Fatalf("skipped = %v under -short=%v: must fail, skipping only with -short", f.skipped, testing.Short())
	}
}

func TestVault(t *testing.T) {
	var pid int
	var home string
	t.Run("server", func(t *testing.T) {
		v := Vault(t)
		pid, home = v.pid(), v.home
		assertOnlyPort(t, v.Addr)
		if v.Token != "root" || !strings.HasPrefix(v.Addr, "http://127.0.0.1:") {
			t.Fatalf("Addr=%q Token=%q", v.Addr, v.Token)
		}
		c := v.Client()
		ctx := context.Background()

		// KV v2 at secret/.
		v.Write(t, "secret/app/db", map[string]any{"password": "v1"})
		v.Write(t, "secret/app/db", map[string]any{"password": "v2"})
		s, err := c.KVv2("secret").Get(ctx, "app/db")
		if err != nil || s.Data["password"] != "v2" || s.VersionMetadata.Version != 2 {
			t.Fatalf("KV v2 read: %v %+v", err, s)
		}

		// KV v1, raw.
		v.EnableKV1(t, "kv1")
		v.Write(t, "kv1/app", map[string]any{"token": "t1"})
		raw, err := c.Logical().Read("kv1/app")
		if err != nil || raw == nil || raw.Data["token"] != "t1" {
			t.Fatalf("KV v1 read: %v %+v", err, raw)
		}
		if raw.LeaseDuration != 2764800 {
			t.Logf("note: KV v1 lease_duration = %d (TESTING.md says 2764800)", raw.LeaseDuration)
		}

		// A second KV v2 mount elsewhere is detected by Write.
		if err := c.Sys().Mount("kv2b", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			t.Fatal(err)
		}
		if err := waitKVv2(c, "kv2b"); err != nil {
			t.Fatal(err)
		}
		v.Write(t, "kv2b/x", map[string]any{"k": "v"})
		if s, err := c.KVv2("kv2b").Get(ctx, "x"); err != nil || s.Data["k"] != "v" {
			t.Fatalf("KV v2 (kv2b) read: %v", err)
		}

		// AppRole: can read, cannot write.
		roleID, secretID := v.EnableAppRole(t)
		ac := v.Client()
		ac.SetToken("")
		login, err := ac.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
		if err != nil || login == nil || login.Auth == nil {
			t.Fatalf("approle login: %v", err)
		}
		if !contains(login.Auth.Policies, ReadAllPolicy) {
			t.Fatalf("approle token policies %v lack %s", login.Auth.Policies, ReadAllPolicy)
		}
		ac.SetToken(login.Auth.ClientToken)
		if s, err := ac.KVv2("secret").Get(ctx, "app/db"); err != nil || s.Data["password"] != "v2" {
			t.Fatalf("approle read: %v", err)
		}
		if _, err := ac.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": "x"}); err == nil {
			t.Fatal("approle token could write")
		}
		if _, second := v.EnableAppRole(t); second == secretID {
			t.Fatal("second EnableAppRole returned the same secret_id")
		}

		// The dev server must not have written a token file.
		if _, err := os.Stat(home + "/.vault-token"); err == nil {
			t.Error("dev server wrote $HOME/.vault-token")
		}

		// Stop is an outage: the address stops answering.
		v.Stop()
		if _, err := (&http.Client{Timeout: time.Second}).Get(v.Addr + "/v1/sys/health"); err == nil {
			t.Fatal("vault still answers after Stop")
		}
		assertGone(t, "vault after Stop", pid)
		v.Stop() // idempotent
	})
	if pid == 0 {
		return // never started: skipped (-short) or failed, reported above
	}
	assertGone(t, "vault", pid)
	assertNoDir(t, home)
}

// A server that fails during start-up is still killed, with the children
// it left in its process group.
func TestVaultFailedStartCleansUp(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "vault")
	// Records its pid (= its process group), leaves a child behind that does
	// not hold the output pipe, then fails.
	script := "#!/bin/sh\necho $$ > " + dir + "/pid\nsleep 300 >/dev/null 2>&1 &\necho fake vault: boom\nexit 3\n"
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MCP_SECRETS_VAULT_BIN", bin)
	f := runFatal(t, func(tb testing.TB) { Vault(tb) })
	if !strings.Contains(f.msg, "fake vault: boom") {
		t.Fatalf("the failure should carry the server's output tail, got %q", f.msg)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	assertGone(t, "failed fake vault", pid)
}

func TestVaultFileRestart(t *testing.T) {
	var pid1, pid2 int
	var home string
	t.Run("server", func(t *testing.T) {
		v := VaultFile(t)
		pid1, home = v.pid(), v.home
		assertOnlyPort(t, v.Addr)
		if v.Token == "" || v.Token == "root" {
			t.Fatalf("Token = %q, want the token from init", v.Token)
		}
		v.Write(t, "secret/app/api", map[string]any{"key": "before-outage"})
		addr := v.Addr

		v.Stop()
		assertGone(t, "vault file after Stop", pid1)
		if _, err := (&http.Client{Timeout: time.Second}).Get(addr + "/v1/sys/health"); err == nil {
			t.Fatal("vault still answers after Stop")
		}

		begin := time.Now()
		v.Start(t)
		t.Logf("Start (restart + unseal) took %v", time.Since(begin))
		pid2 = v.pid()
		if v.Addr != addr {
			t.Fatalf("address changed across restart: %s -> %s", addr, v.Addr)
		}
		s, err := v.Client().KVv2("secret").Get(context.Background(), "app/api")
		if err != nil || s.Data["key"] != "before-outage" {
			t.Fatalf("after restart: %v %+v", err, s)
		}
		v.Write(t, "secret/app/api", map[string]any{"key": "after-outage"})
		v.Start(t) // running: no-op
		if v.pid() != pid2 {
			t.Fatal("Start on a running server restarted it")
		}
	})
	for _, pid := range []int{pid1, pid2} {
		if pid != 0 { // 0: never started (-short skip, or failed: reported above)
			assertGone(t, "vault file", pid)
		}
	}
	if home != "" {
		assertNoDir(t, home)
	}
}

func TestPostgres(t *testing.T) {
	var pid int
	var dir string
	t.Run("server", func(t *testing.T) {
		pg := Postgres(t)
		pid, dir = pg.pid(), pg.dir
		if pg.Host != "127.0.0.1" || pg.Port == 0 {
			t.Fatalf("Host=%q Port=%d", pg.Host, pg.Port)
		}
		if got := pg.Exec(t, "SHOW fsync; SHOW listen_addresses"); got != "off\n127.0.0.1" {
			t.Fatalf("settings: %q", got)
		}
		if err := pg.CanLogin("postgres", superPassword(t, pg)); err != nil {
			t.Fatalf("superuser login from SuperuserDSN: %v", err)
		}

		pw := "p'w\"d with spaces"
		pg.CreateRole(t, "vault-admin", pw, "CREATEROLE")
		if err := pg.CanLogin("vault-admin", pw); err != nil {
			t.Fatalf("role cannot log in: %v", err)
		}
		if err := pg.CanLogin("vault-admin", "wrong"); err == nil {
			t.Fatal("login with a wrong password succeeded")
		} else if !strings.Contains(err.Error(), "password authentication failed") {
			t.Fatalf("wrong password: unexpected error %v", err)
		}
		if err := pg.CanLogin("nobody", "x"); err == nil {
			t.Fatal("login of an unknown role succeeded")
		}
		if got := pg.Exec(t, `SELECT rolcreaterole, rolsuper FROM pg_roles WHERE rolname = 'vault-admin'`); got != "t|f" {
			t.Fatalf("role attributes: %q", got)
		}
	})
	if pid == 0 {
		return // never started: skipped (-short) or failed, reported above
	}
	assertGone(t, "postgres", pid)
	assertNoDir(t, dir)
}

func superPassword(t *testing.T, pg *PostgresServer) string {
	t.Helper()
	u, err := url.Parse(pg.SuperuserDSN)
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || u.User.Username() != "postgres" {
		t.Fatalf("SuperuserDSN has no password: %s", pg.SuperuserDSN)
	}
	return pw
}

// The combination the rotation tests need: Vault's database engine on a
// dedicated CREATEROLE role, issuing credentials that log in for real.
func TestVaultDatabaseEngine(t *testing.T) {
	v := Vault(t) // first: without a binary it fails (or skips) before initdb's seconds
	pg := Postgres(t)
	pg.CreateRole(t, "vault", "initial-pw", "CREATEROLE")
	c := v.Client()
	if err := c.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("database/config/pg", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": fmt.Sprintf("postgresql://{{username}}:{{password}}@127.0.0.1:%d/postgres?sslmode=disable", pg.Port),
		"username":       "vault",
		"password":       "initial-pw",
		"allowed_roles":  "app",
	}); err != nil {
		t.Fatalf("database config: %v", err)
	}
	if _, err := c.Logical().Write("database/roles/app", map[string]any{
		"db_name":             "pg",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
		"default_ttl":         "1h",
	}); err != nil {
		t.Fatalf("database role: %v", err)
	}
	begin := time.Now()
	creds, err := c.Logical().Read("database/creds/app")
	if err != nil || creds == nil {
		t.Fatalf("database creds: %v", err)
	}
	t.Logf("database/creds/app answered in %v", time.Since(begin))
	user, _ := creds.Data["username"].(string)
	pw, _ := creds.Data["password"].(string)
	if err := pg.CanLogin(user, pw); err != nil {
		t.Fatalf("leased credentials cannot log in: %v", err)
	}
	if _, err := c.Logical().Write("database/rotate-root/pg", nil); err != nil {
		t.Fatalf("rotate-root: %v", err)
	}
	if err := pg.CanLogin("vault", "initial-pw"); err == nil {
		t.Fatal("initial password still works after rotate-root")
	}
	if err := c.Sys().Revoke(creds.LeaseID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	// Revocation returns before the role is dropped (TESTING.md): poll.
	deadline := time.Now().Add(10 * time.Second)
	for pg.CanLogin(user, pw) == nil {
		if time.Now().After(deadline) {
			t.Fatal("revoked credentials still log in after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKumo(t *testing.T) {
	ctx := context.Background()
	var url, prefix, name string
	t.Run("server", func(t *testing.T) {
		k := Kumo(t)
		url, prefix, name = k.URL, k.Prefix, k.Name("app/db")
		if !strings.HasPrefix(name, "TestKumo/server-") {
			t.Fatalf("Name = %q", name)
		}
		sm := k.SecretsManager
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(name), SecretString: aws.String(`{"password":"one"}`),
		}); err != nil {
			t.Fatalf("CreateSecret: %v", err)
		}
		if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(name), SecretString: aws.String(`{"password":"two"}`),
		}); err != nil {
			t.Fatalf("PutSecretValue: %v", err)
		}
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil || aws.ToString(out.SecretString) != `{"password":"two"}` {
			t.Fatalf("GetSecretValue: %v %v", err, out)
		}
		env := strings.Join(k.Env(), "\n")
		for _, want := range []string{"AWS_ENDPOINT_URL=" + k.URL, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"} {
			if !strings.Contains(env, want) {
				t.Errorf("Env() lacks %s", want)
			}
		}
	})
	if _, err := (&http.Client{Timeout: time.Second}).Get(url + "/health"); err == nil {
		t.Fatal("kumo still answers after cleanup")
	}

	// kumo's store is per process, not per server: the next server would
	// still see the secret had cleanup not deleted it.
	k := Kumo(t)
	if _, err := k.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); err == nil {
		t.Fatalf("secret %s of a closed server is still in the shared store", name)
	}
	if k.Prefix == prefix {
		t.Fatal("two servers got the same Prefix")
	}
	if _, err := k.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(k.Name("shared")), SecretString: aws.String("x"),
	}); err != nil {
		t.Fatal(err)
	}
	other := Kumo(t)
	if _, err := other.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(k.Name("shared"))}); err != nil {
		t.Logf("kumo servers no longer share a store (%v): Prefix is no longer needed", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
