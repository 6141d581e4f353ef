package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
)

// logBuffer collects a provider's log, safe for its goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newProvider is a provider for the test server, with the real azsecrets
// client over TLS; its debug log goes to the returned buffer.
func newProvider(t testing.TB, s *azuretest.Server) (*Provider, *logBuffer) {
	t.Helper()
	var log logBuffer
	return New(Options{
		Getenv:     func(string) string { return "" },
		Log:        slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Credential: s.Credential(),
		Transport:  s.HTTPClient(),
	}), &log
}

// resolver resolves with the azure provider as the real CLI does.
func resolver(p providers.Provider) *providers.Resolver {
	return &providers.Resolver{Providers: map[string]providers.Provider{"azure": p}, Timeout: 10 * time.Second}
}

// noValues fails the test if any of the values appears in text.
func noValues(t *testing.T, what, text string, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(text, v) {
			t.Errorf("%s shows a secret value %q: %s", what, v, text)
		}
	}
}

// TestResolve covers Key Vault's names and URLs (TestSuite covers the rest).
func TestResolve(t *testing.T) {
	s := azuretest.New(t, azuretest.Options{})
	v1 := s.Set("db", `{"user":"app","password":"first-pw-0123"}`)
	s.Set("db", `{"user":"app","password":"second-pw-4567"}`)
	api := s.Set("api-key", "sk-live-key-89abcdef")
	url := s.URL() + "/secrets/"

	tests := []struct {
		name, value, want, wantVersion string
	}{
		{"vault name in capitals", "$<azure:TestVault/API-KEY>", "sk-live-key-89abcdef", api},
		{"URL", "$<azure:" + url + "api-key>", "sk-live-key-89abcdef", api},
		{"URL with version", "$<azure:" + url + "db/" + v1 + "#password>", "first-pw-0123", v1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newProvider(t, s)
			got, err := resolver(p).Resolve(t.Context(), []providers.Var{{Name: "V", Value: tc.value}})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Value.Reveal() != tc.want || got[0].Sources[0].Version != tc.wantVersion {
				t.Errorf("got %q version %s, want %q version %s", got[0].Value.Reveal(), got[0].Sources[0].Version, tc.want, tc.wantVersion)
			}
		})
	}
}

// Many references to a few secrets: each secret is read once, and the
// vault's 401 challenge is answered once, not once per parallel request.
func TestFetchedOnce(t *testing.T) {
	s := azuretest.New(t, azuretest.Options{})
	const secrets, refs = 10, 100
	for i := range secrets {
		s.Set(fmt.Sprintf("s%d", i), fmt.Sprintf(`{"a":"a%d","b":"b%d"}`, i, i))
	}
	var vars []providers.Var
	for i := range refs {
		field := []string{"a", "b"}[i%2]
		vars = append(vars, providers.Var{Name: fmt.Sprintf("V%d", i), Value: fmt.Sprintf("$<azure:testvault/s%d#%s>", i%secrets, field)})
	}
	p, _ := newProvider(t, s)
	got, err := resolver(p).Resolve(t.Context(), vars)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if want := fmt.Sprintf("%s%d", []string{"a", "b"}[i%2], i%secrets); r.Value.Reveal() != want {
			t.Errorf("%s = %q, want %q", r.Name, r.Value.Reveal(), want)
		}
	}
	for i := range secrets {
		if n := s.Count(azuretest.OpGetSecret, fmt.Sprintf("s%d", i)); n != 1 {
			t.Errorf("s%d read %d times, want 1", i, n)
		}
	}
	challenges := 0
	for _, r := range s.Requests() {
		if !r.Authorized {
			challenges++
		}
	}
	if challenges != 1 {
		t.Errorf("%d challenged requests, want 1", challenges)
	}
}

// TestFetchErrors covers the failures only Key Vault and its credentials
// have (TestSuite covers a missing secret, a denied one and a vault that
// cannot be reached).
func TestFetchErrors(t *testing.T) {
	t.Parallel()
	const value = "sup3r-secret-value"
	tests := []struct {
		name  string
		setup func(*azuretest.Server)
		cred  func(*azuretest.Server) azcore.TokenCredential
		ref   string
		kind  error
		msg   string // in the error
	}{
		{name: "missing version", ref: "testvault/db?version=" + strings.Repeat("0", 32), kind: providers.ErrNotFound, msg: "SecretNotFound (404)"},
		{name: "no such vault", ref: "nope/db", kind: providers.ErrNotFound, msg: "no vault nope.vault.azure.net"},
		{name: "token refused", cred: func(*azuretest.Server) azcore.TokenCredential { return azuretest.StaticCredential("stolen") },
			ref: "testvault/db", kind: providers.ErrDenied, msg: "Unauthorized (401)"},
		{name: "credential fails", cred: func(s *azuretest.Server) azcore.TokenCredential {
			// A real credential that cannot reach Entra ID: the test transport
			// knows no login.microsoftonline.com.
			c, err := azidentity.NewClientSecretCredential(azuretest.TenantID, "00000000-0000-0000-0000-00000000c11e", "client-secret-must-not-show",
				&azidentity.ClientSecretCredentialOptions{
					ClientOptions:            azcore.ClientOptions{Transport: s.HTTPClient(), Retry: policy.RetryOptions{MaxRetries: -1}},
					DisableInstanceDiscovery: true,
				})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, ref: "testvault/db", kind: providers.ErrDenied, msg: "credential: ClientSecretCredential"},
		{name: "outage", setup: func(s *azuretest.Server) {
			s.SetHook(func(w http.ResponseWriter, _ azuretest.Request) bool {
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
				return true
			})
		}, ref: "testvault/db", kind: providers.ErrUnavailable, msg: "503 Service Unavailable"},
		{name: "throttled", setup: func(s *azuretest.Server) {
			s.SetHook(func(w http.ResponseWriter, _ azuretest.Request) bool {
				w.Header().Set("Retry-After", "30") // longer than the provider waits
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(`{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received."}}`))
				return true
			})
		}, ref: "testvault/db", kind: providers.ErrUnavailable, msg: "Throttled (429)"},
		{name: "timeout", setup: func(s *azuretest.Server) {
			s.SetHook(func(http.ResponseWriter, azuretest.Request) bool {
				time.Sleep(300 * time.Millisecond)
				return false
			})
		}, ref: "testvault/db", kind: providers.ErrUnavailable, msg: "no answer from testvault.vault.azure.net in time"},
		{name: "stage", ref: "testvault/db?stage=AWSCURRENT", kind: providers.ErrConfig, msg: "versions, not stages"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := azuretest.New(t, azuretest.Options{})
			s.Set("db", value)
			if tc.setup != nil {
				tc.setup(s)
			}
			p, log := newProvider(t, s)
			if tc.cred != nil {
				p.opts.Credential = tc.cred(s)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			if tc.name != "timeout" {
				ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
			}
			defer cancel()
			start := time.Now()
			_, err := resolver(p).Resolve(ctx, []providers.Var{{Name: "DB", Value: "$<azure:" + tc.ref + ">"}})
			if took := time.Since(start); took > 30*time.Second { // bounded, not a measurement
				t.Errorf("took %v", took)
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			msg := err.Error()
			t.Log(msg)
			want := "DB: $<azure:" + tc.ref + ">: azure: "
			if tc.kind != providers.ErrConfig { // configuration errors go without their kind's name
				want += tc.kind.Error() + ": "
			}
			if !strings.HasPrefix(msg, want) {
				t.Errorf("error %q does not start with %q", msg, want)
			}
			if !strings.Contains(msg, tc.msg) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line with %q", msg, tc.msg)
			}
			noValues(t, "error", msg, value, "client-secret-must-not-show", azuretest.Token)
			noValues(t, "log", log.String(), value, "client-secret-must-not-show", azuretest.Token)
		})
	}
}

// Transient failures are retried, a few times.
func TestRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int
		wantErr  error
		wantTry  int
	}{
		{"recovers", 2, nil, 3},
		{"gives up", 100, providers.ErrUnavailable, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := azuretest.New(t, azuretest.Options{})
			s.Set("db", "pw-after-retries")
			var mu sync.Mutex
			tries := 0
			s.SetHook(func(w http.ResponseWriter, _ azuretest.Request) bool {
				mu.Lock()
				defer mu.Unlock()
				tries++
				if tries <= tc.failures {
					http.Error(w, "bad gateway", http.StatusBadGateway)
					return true
				}
				return false
			})
			p, _ := newProvider(t, s)
			sec, err := p.Fetch(t.Context(), providers.Ref{Provider: "azure", Path: "testvault/db"})
			if !errors.Is(err, tc.wantErr) || err == nil && sec.Reveal() != "pw-after-retries" {
				t.Errorf("got %v, want %v", err, tc.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if tries != tc.wantTry {
				t.Errorf("%d tries, want %d", tries, tc.wantTry)
			}
		})
	}
}

// New is cheap: no credential, no client, no request until the first fetch.
func TestNewIsCheap(t *testing.T) {
	p := New(Options{Getenv: func(string) string { return "" }})
	if p.cred != nil || len(p.vaults) != 0 {
		t.Errorf("New made a credential (%v) or clients (%d)", p.cred, len(p.vaults))
	}
}
