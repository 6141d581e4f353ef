package testenv

// Start times observed on the 2-core machine, Debian's PostgreSQL 15.18, with
// other sessions loading it (load average 6-7): initdb 1.4-5.2 s (user+sys
// ~1.8 s: it is CPU-bound, and dominates), then postgres up and the first
// connection 0.2-0.7 s; 1.6-5.9 s in all. Cleanup (SIGQUIT) takes 25-35 ms.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostgresServer is a throwaway PostgreSQL cluster owned by one test. It
// listens on 127.0.0.1 only; TCP logins need a password (scram-sha-256).
type PostgresServer struct {
	Host         string // 127.0.0.1
	Port         int
	SuperuserDSN string // postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable

	bin  string // directory holding initdb, postgres, psql
	dir  string // temp dir: removed on cleanup
	data string // data directory, also the unix socket directory
	cred *runAs // user postgres when the tests run as root, else nil
	proc *proc
}

// Postgres initializes and starts a cluster in a temp dir, with fsync off
// (throwaway data) and superuser "postgres" with a random password.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	begin := time.Now()
	pg := &PostgresServer{Host: "127.0.0.1", bin: postgresBin(t)}
	cred, err := postgresUser()
	if err != nil {
		unavailable(t, "%v", err)
	}
	pg.cred = cred
	// Not t.TempDir: its parent is 0700, which user postgres cannot enter.
	dir, err := os.MkdirTemp(tempBase(pg.cred != nil), "testenv-pg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	pg.dir, pg.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() {
		pg.stop()
		os.RemoveAll(dir)
	})
	if err := pg.prepareDirs(); err != nil {
		t.Fatalf("testenv: postgres dirs: %v", err)
	}

	// Local (unix socket) logins are trusted: the socket lives in the data
	// dir, which only postgres (and root) can enter. TCP needs a password.
	initdb := exec.Command(filepath.Join(pg.bin, "initdb"), "-D", pg.data, "-U", "postgres",
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Env = pg.env()
	initdb.SysProcAttr = sysProcAttr(pg.cred, false)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	initDone := time.Now()

	if err := startRetryingPort(pg.start); err != nil {
		t.Fatalf("testenv: postgres: %v", err)
	}
	// The superuser password is set over the socket, never written to a
	// file: initdb --pwfile would need one.
	pw := randomHex()
	if _, err := pg.exec("ALTER ROLE postgres PASSWORD " + quoteLiteral(pw)); err != nil {
		t.Fatalf("testenv: postgres: set superuser password: %v", err)
	}
	pg.SuperuserDSN = pg.DSN("postgres", pw)
	t.Logf("testenv: postgres at %s:%d ready in %v (initdb %v)", pg.Host, pg.Port,
		time.Since(begin).Round(time.Millisecond), initDone.Sub(begin).Round(time.Millisecond))
	return pg
}

// postgresBin finds the directory with initdb: PATH first (an explicit
// choice), then the newest of Debian's /usr/lib/postgresql/*/bin.
func postgresBin(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("initdb"); err == nil {
		// Resolve links (here /usr/local/bin/initdb links into
		// /usr/lib/postgresql/15/bin) to reach the dir with postgres and psql.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		unavailable(t, "PostgreSQL server binaries (initdb, postgres) are neither on PATH nor in /usr/lib/postgresql/*/bin: install Debian's postgresql package")
	}
	version := func(p string) int { // /usr/lib/postgresql/15/bin/initdb -> 15
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	return filepath.Dir(slices.MaxFunc(dirs, func(a, b string) int { return version(a) - version(b) }))
}

// tempBase is where the cluster's temp dir goes. When it must be entered by
// user postgres, every ancestor must be searchable by others; a TMPDIR under
// /root is not, so fall back to /tmp.
func tempBase(otherUser bool) string {
	base := os.TempDir()
	if !otherUser {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

func (pg *PostgresServer) prepareDirs() error {
	// 0711: postgres may enter the dir but not list it.
	if err := os.Chmod(pg.dir, 0o711); err != nil {
		return err
	}
	if err := os.Mkdir(pg.data, 0o700); err != nil {
		return err
	}
	return chownTo(pg.data, pg.cred)
}

// env is the environment for PostgreSQL's programs: the test process's minus
// PG* (a developer's PGHOST, PGUSER... must not redirect them) and locale
// settings (the cluster is created with locale C; a missing locale would
// only produce warnings).
func (pg *PostgresServer) env() []string {
	return append(EnvWithout("PG", "LC_", "LANG"), "LC_ALL=C", "PGPASSFILE="+os.DevNull)
}

// start runs postgres on port and waits until it accepts connections.
func (pg *PostgresServer) start(port int) error {
	p, err := startProc(filepath.Join(pg.bin, "postgres"), []string{
		"-D", pg.data,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + pg.data, // not /var/run/postgresql: may be absent or shared
		"-c", "fsync=off", // throwaway data: durability costs time for nothing
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB", // several clusters may run at once on a small machine
	}, pg.env(), pg.cred)
	if err != nil {
		return err
	}
	pg.proc, pg.Port = p, port
	// postmaster.pid's 8th line turns "ready" once connections are accepted;
	// reading it costs far less than a psql per poll.
	deadline := time.Now().Add(readyTimeout)
	for {
		if b, err := os.ReadFile(filepath.Join(pg.data, "postmaster.pid")); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) > 7 && strings.TrimSpace(lines[7]) == "ready" {
				break
			}
		}
		if p.exited() {
			if strings.Contains(p.out.String(), "Address already in use") {
				p.kill() // exited already; this only reaps anything left in its group
				pg.proc = nil
				return errAddrInUse
			}
			return p.exitError("postgres")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %v; output tail:\n%s", readyTimeout, p.out.String())
		}
		time.Sleep(pollEvery)
	}
	// Ready means a connection succeeds: prove it.
	if _, err := pg.exec("SELECT 1"); err != nil {
		return fmt.Errorf("postgres ready but no connection: %v; output tail:\n%s", err, p.out.String())
	}
	return nil
}

// stop is pg_ctl stop -m immediate without pg_ctl: SIGQUIT to the postmaster
// (which kills its backends and removes its shared memory), then a group
// SIGKILL for anything left.
func (pg *PostgresServer) stop() {
	if pg.proc == nil {
		return
	}
	// Windows has no SIGQUIT: the group kill alone.
	if pg.proc.cmd.Process.Signal(syscall.SIGQUIT) == nil {
		select {
		case <-pg.proc.done:
		case <-time.After(10 * time.Second):
		}
	}
	pg.proc.kill()
	pg.proc = nil
}

// DSN returns a URL for user on this server, for clients such as Vault's
// database engine.
func (pg *PostgresServer) DSN(user, password string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}

// Exec runs sql (one or more statements) as the superuser and returns the
// rows printed unaligned, one per line, fields separated by "|".
func (pg *PostgresServer) Exec(t testing.TB, sql string) string {
	t.Helper()
	out, err := pg.exec(sql)
	if err != nil {
		t.Fatalf("testenv: postgres: %v", err)
	}
	return out
}

// exec runs sql through psql on the unix socket as postgres. The SQL goes
// through stdin so passwords in it never show in a process listing.
func (pg *PostgresServer) exec(sql string) (string, error) {
	return pg.psql(nil, sql, "-h", pg.data, "-p", strconv.Itoa(pg.Port), "-U", "postgres")
}

func (pg *PostgresServer) psql(env []string, sql string, conn ...string) (string, error) {
	args := append([]string{"-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-f", "-"}, conn...)
	cmd := exec.Command(pg.psqlPath(), args...)
	cmd.Env = append(append(pg.env(), "PGCONNECT_TIMEOUT=5"), env...)
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// CreateRole creates a role that can log in with password. attrs are added
// as written (e.g. "CREATEROLE", "CREATEDB", "CONNECTION LIMIT 5"). For
// Vault's database engine give it CREATEROLE, never the superuser.
func (pg *PostgresServer) CreateRole(t testing.TB, name, password string, attrs ...string) {
	t.Helper()
	sql := "CREATE ROLE " + quoteIdent(name) + " WITH LOGIN PASSWORD " + quoteLiteral(password)
	if len(attrs) > 0 {
		sql += " " + strings.Join(attrs, " ")
	}
	if _, err := pg.exec(sql); err != nil {
		t.Fatalf("testenv: create role %s: %v", name, err)
	}
}

// CanLogin tries a real password login over TCP (as Vault or an app would
// connect) and returns why it failed, or nil.
func (pg *PostgresServer) CanLogin(user, password string) error {
	_, err := pg.psql([]string{"PGPASSWORD=" + password, "PGSSLMODE=disable"}, "SELECT 1",
		"-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", user)
	return err
}

// psqlPath is the server's own psql, else the one on PATH (Debian's
// postgresql-client puts it in /usr/bin).
func (pg *PostgresServer) psqlPath() string {
	p := filepath.Join(pg.bin, "psql")
	if _, err := os.Stat(p); err != nil {
		if q, err := exec.LookPath("psql"); err == nil {
			return q
		}
	}
	return p
}

func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
