package vault_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// A token Vault does not know is refused as access denied, and never shown
// (TestSuite covers a token whose policy refuses).
func TestUnknownToken(t *testing.T) {
	v := kvServer(t)
	const token = "hvs.not-a-token-3b1f"
	h := newProvider(t, vaultEnv(v.Addr, token), token, kv2PasswordV2)
	_, err := h.resolve("V", "$<vault:secret/app#password>")
	if !errors.Is(err, providers.ErrDenied) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("%v, want access denied saying permission denied", err)
	}
}

// Fetches against a Vault that cannot answer fail as unavailable, in
// bounded time: retries are few and short, and ctx bounds everything
// (TestSuite covers a closed port).
func TestUnavailable(t *testing.T) {
	silent := func(t *testing.T) string {
		// Accepts connections and never answers.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		return "http://" + l.Addr().String()
	}
	sealed := func(t *testing.T) string {
		v := testenv.Vault(t)
		if err := v.Client().Sys().Seal(); err != nil {
			t.Fatal(err)
		}
		return v.Addr
	}
	tests := []struct {
		name    string
		addr    func(t *testing.T) string
		timeout time.Duration
		says    string
		within  time.Duration
	}{
		{"no answer", silent, 500 * time.Millisecond, "timed out", 2 * time.Second},
		{"sealed", sealed, 10 * time.Second, "Vault is sealed", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newProvider(t, vaultEnv(tt.addr(t), "root"))
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			begin := time.Now()
			_, err := h.fetch(ctx, "$<vault:secret/app#password>")
			took := time.Since(begin)
			if !errors.Is(err, providers.ErrUnavailable) {
				t.Fatalf("%v, want unavailable", err)
			}
			if !strings.Contains(err.Error(), tt.says) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line that says %q", err, tt.says)
			}
			if took > tt.within {
				t.Errorf("failed after %v, want within %v", took, tt.within)
			}
		})
	}
}

// A provider outlives an outage of Vault: it fails while Vault is down and
// works again once it is back, with nothing stale cached.
func TestOutage(t *testing.T) {
	v := testenv.VaultFile(t)
	v.Write(t, "secret/app", map[string]any{"password": kv2PasswordV1})
	h := newProvider(t, vaultEnv(v.Addr, v.Token), kv2PasswordV1, v.Token)
	ctx := context.Background()
	if _, err := h.fetch(ctx, "$<vault:secret/app#password>"); err != nil {
		t.Fatal(err)
	}
	v.Stop()
	if _, err := h.fetch(ctx, "$<vault:secret/app#password>"); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Vault stopped: %v, want unavailable", err)
	}
	v.Start(t)
	s, err := h.fetch(ctx, "$<vault:secret/app>")
	if err != nil {
		t.Fatalf("Vault back: %v", err)
	}
	if w, _ := s.Whole(); w.Reveal() != kv2PasswordV1 {
		t.Errorf("after the outage: wrong value (%s)", w.Masked())
	}
}

// An unconfigured provider (no VAULT_ADDR) says so without a network call,
// and a malformed setting is a configuration error, not a crash.
func TestConfiguration(t *testing.T) {
	if newProvider(t, map[string]string{"VAULT_TOKEN": "x"}).p.Configured() {
		t.Error("configured without VAULT_ADDR")
	}
	if !newProvider(t, map[string]string{"VAULT_ADDR": "http://127.0.0.1:1"}).p.Configured() {
		t.Error("not configured with VAULT_ADDR")
	}
	tests := []struct {
		name string
		env  map[string]string
		says string
	}{
		{"skip verify", map[string]string{"VAULT_ADDR": "https://127.0.0.1:1", "VAULT_SKIP_VERIFY": "maybe"}, `VAULT_SKIP_VERIFY="maybe"`},
		{"CA file", map[string]string{"VAULT_ADDR": "https://127.0.0.1:1", "VAULT_CACERT": "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
		{"client key without cert", map[string]string{"VAULT_ADDR": "https://127.0.0.1:1", "VAULT_CLIENT_KEY": "/k.pem"}, "client cert"},
		{"JWT file", map[string]string{"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_JWT_FILE": "/nonexistent/jwt"}, "VAULT_JWT_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newProvider(t, tt.env)
			_, err := h.fetch(context.Background(), "$<vault:secret/app#k>")
			if !errors.Is(err, providers.ErrConfig) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("%v: want a configuration error that says %q", err, tt.says)
			}
		})
	}
}
