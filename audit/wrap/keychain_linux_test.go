// Against a real Secret Service; secret-tool reads back what wrap stored.

package wrap

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/keychain"
)

// Each server's secrets become one keychain item, account = the server,
// holding a JSON object; an item that exists keeps its other keys, and one
// that is not a JSON object is never overwritten.
func TestStoreVerifyKeychain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Secret Service")
	}
	ss := testenv.SecretService(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", ss.Addr)
	ss.Store(t, "mcp", "github", `{"OTHER":"kept"}`)
	kc := keychain.New(keychain.Options{})
	ctx := context.Background()
	p := plan(t, "c.json", claudeConfig, Target{"keychain", "mcp"}, nil)

	stored, err := p.Store(ctx, kc, kc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(stored, " ") != "keychain:mcp/github keychain:mcp/postgres keychain:mcp/sentry" {
		t.Errorf("stored %q", stored)
	}
	s := auditest.Secrets()
	for account, want := range map[string]map[string]string{
		"github":   {"GITHUB_PERSONAL_ACCESS_TOKEN": s["GITHUB_PAT"], "OTHER": "kept"},
		"postgres": {"ARG_2": "postgresql://app:" + s["PG_PASSWORD"] + "@db:5432/app"},
		"sentry":   {"TOKEN": s["GENERIC_SECRET"]},
	} {
		v, ok := ss.Lookup(t, "mcp", account)
		var got map[string]string
		if !ok || json.Unmarshal([]byte(v), &got) != nil || len(got) != len(want) {
			t.Errorf("secret-tool reads mcp/%s: %v, %d bytes", account, ok, len(v))
			continue
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("mcp/%s: %s differs", account, k)
			}
		}
	}
	r := &providers.Resolver{Providers: map[string]providers.Provider{"keychain": kc}, Fallback: providers.FallbackOff, Timeout: 10 * time.Second}
	checked, err := p.Verify(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(checked) != 3 || !strings.HasPrefix(checked[0], "github: $<keychain:mcp/github#GITHUB_PERSONAL_ACCESS_TOKEN> ghp_…") {
		t.Errorf("checked %q", checked)
	}
	noLeak(t, "verify", strings.Join(checked, "\n"))

	// An item that is not a JSON object stops wrap before anything is
	// written; the item the first server would get is the control.
	ss.Store(t, "mcp2", "postgres", "plain text")
	p2 := plan(t, "c.json", claudeConfig, Target{"keychain", "mcp2"}, nil)
	stored, err = p2.Store(ctx, kc, kc)
	if err == nil || !strings.Contains(err.Error(), "keychain:mcp2/postgres exists and is not a JSON object") || len(stored) != 0 {
		t.Errorf("stored %q, err %v", stored, err)
	}
	if _, ok := ss.Lookup(t, "mcp2", "github"); ok {
		t.Error("mcp2/github was written before the conflict was found")
	}
	if v, _ := ss.Lookup(t, "mcp2", "postgres"); v != "plain text" {
		t.Errorf("the item in the way was overwritten: %q", v)
	}
}
