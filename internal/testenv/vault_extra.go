package testenv

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// DatabaseRole is the role of Vault's database engine that EnableDatabase
// creates: database/creds/DatabaseRole issues PostgreSQL logins.
const DatabaseRole = "readonly"

// EnableDatabase mounts Vault's database engine at database/ and connects
// it to pg as a dedicated CREATEROLE role (never the superuser: Vault may
// rotate its own role's password). Credentials of DatabaseRole are leased
// for ttl, renewable up to maxTTL; revoking a lease drops its role.
func (v *VaultServer) EnableDatabase(t testing.TB, pg *PostgresServer, ttl, maxTTL time.Duration) {
	t.Helper()
	admin, pw := "vaultadmin", randomHex()
	pg.CreateRole(t, admin, pw, "CREATEROLE")
	c := v.Client()
	if err := c.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatalf("testenv: mount database engine: %v", err)
	}
	host := net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port))
	if _, err := c.Logical().Write("database/config/pg", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": "postgresql://{{username}}:{{password}}@" + host + "/postgres?sslmode=disable",
		"username":       admin,
		"password":       pw,
		"allowed_roles":  DatabaseRole,
	}); err != nil {
		t.Fatalf("testenv: configure database engine: %v", err)
	}
	if _, err := c.Logical().Write("database/roles/"+DatabaseRole, map[string]any{
		"db_name":             "pg",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`},
		"default_ttl":         fmt.Sprintf("%ds", int(ttl.Seconds())),
		"max_ttl":             fmt.Sprintf("%ds", int(maxTTL.Seconds())),
	}); err != nil {
		t.Fatalf("testenv: create database role: %v", err)
	}
}

// Leases lists the ids of the leases issued under prefix (e.g.
// "database/creds/readonly/"), for tests that count them.
func (v *VaultServer) Leases(t testing.TB, prefix string) []string {
	t.Helper()
	s, err := v.Client().Logical().List("sys/leases/lookup/" + prefix)
	if err != nil {
		t.Fatalf("testenv: list leases under %s: %v", prefix, err)
	}
	if s == nil {
		return nil
	}
	keys, _ := s.Data["keys"].([]any)
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, prefix+fmt.Sprint(k))
	}
	return ids
}

// NewToken creates a token with the given policies (no default policy) and
// TTL, for tests of what a less privileged client may do.
func (v *VaultServer) NewToken(t testing.TB, ttl time.Duration, policies ...string) string {
	t.Helper()
	s, err := v.Client().Auth().Token().Create(&api.TokenCreateRequest{
		Policies:        policies,
		NoDefaultPolicy: true,
		TTL:             fmt.Sprintf("%ds", int(ttl.Seconds())),
	})
	if err != nil || s == nil || s.Auth == nil {
		t.Fatalf("testenv: create token: %v", err)
	}
	return s.Auth.ClientToken
}

// Policy writes an ACL policy.
func (v *VaultServer) Policy(t testing.TB, name, hcl string) {
	t.Helper()
	if err := v.Client().Sys().PutPolicy(name, hcl); err != nil {
		t.Fatalf("testenv: put policy %s: %v", name, err)
	}
}
