package vault_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// databaseServer is a dev server whose database engine issues PostgreSQL
// logins (role testenv.DatabaseRole) on a throwaway cluster.
func databaseServer(t *testing.T, ttl, maxTTL time.Duration) (*testenv.VaultServer, *testenv.PostgresServer) {
	t.Helper()
	pg := testenv.Postgres(t)
	v := testenv.Vault(t)
	v.EnableDatabase(t, pg, ttl, maxTTL)
	return v, pg
}

// #username and #password of one leased secret, in two variables, come
// from one read: one lease, and a pair that logs in.
func TestDatabaseCredentials(t *testing.T) {
	v, pg := databaseServer(t, time.Hour, 24*time.Hour)
	proxy := countRequests(t, v.Addr)
	h := newProvider(t, vaultEnv(proxy.URL, v.Token))
	res, err := h.resolve(
		"DB_USER", "$<vault:database/creds/readonly#username>",
		"DB_PASSWORD", "$<vault:database/creds/readonly#password>",
	)
	if err != nil {
		t.Fatal(err)
	}
	user, pw := res["DB_USER"].Value.Reveal(), res["DB_PASSWORD"].Value.Reveal()
	h.hide(pw)
	if n := proxy.n("GET /v1/database/creds/readonly"); n != 1 {
		t.Errorf("%d reads of database/creds/readonly, want 1", n)
	}
	leases := v.Leases(t, "database/creds/readonly/")
	if len(leases) != 1 {
		t.Fatalf("%d leases, want 1: %v", len(leases), leases)
	}
	for _, name := range []string{"DB_USER", "DB_PASSWORD"} {
		src := res[name].Sources[0]
		if src.Lease.ID != leases[0] || src.Version != leases[0] {
			t.Errorf("%s: lease %q version %q, want %q", name, src.Lease.ID, src.Version, leases[0])
		}
		if !src.Lease.Renewable || src.Lease.TTL != time.Hour {
			t.Errorf("%s: lease renewable=%v ttl=%v, want renewable for 1h", name, src.Lease.Renewable, src.Lease.TTL)
		}
	}
	if err := pg.CanLogin(user, pw); err != nil {
		t.Errorf("the leased pair does not log in to PostgreSQL: %v", err)
	}
}

// Renew extends a lease; once the lease is revoked it is ErrNotFound.
func TestRenew(t *testing.T) {
	v, _ := databaseServer(t, 10*time.Second, time.Hour)
	h := newProvider(t, vaultEnv(v.Addr, v.Token))
	ctx := context.Background()
	s, err := h.fetch(ctx, "$<vault:database/creds/readonly>")
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := s.Field("password"); err == nil {
		h.hide(pw.Reveal())
	}
	lease := s.Lease
	if lease.ID == "" || lease.TTL != 10*time.Second {
		t.Fatalf("lease %+v, want one of 10s", lease)
	}
	time.Sleep(2 * time.Second)
	renewed, err := h.p.Renew(ctx, providers.Lease{ID: lease.ID, TTL: time.Minute, Renewable: true})
	if err != nil {
		t.Fatal(err)
	}
	if renewed.ID != lease.ID || renewed.TTL != time.Minute || !renewed.Renewable {
		t.Errorf("renewed lease %+v, want %s for 1m, renewable", renewed, lease.ID)
	}
	lookup, err := v.Client().Sys().Lookup(lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ttl, _ := lookup.Data["ttl"].(interface{ Int64() (int64, error) }).Int64(); ttl < 50 {
		t.Errorf("lease ttl after renewal: %ds, want about 60", ttl)
	}

	if err := v.Client().Sys().Revoke(lease.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.p.Renew(ctx, lease)
	if !errors.Is(err, providers.ErrNotFound) || !strings.Contains(err.Error(), lease.ID) {
		t.Errorf("renewing a revoked lease: %v, want not found naming the lease", err)
	}
	t.Logf("error: %v", err)
}
