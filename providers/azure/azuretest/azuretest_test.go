package azuretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// The test binary doubles as the child process of TestChildProcess.
const childVaultEnv, childSecretEnv = "AZURETEST_CHILD_VAULT", "AZURETEST_CHILD_SECRET"

func TestMain(m *testing.M) {
	if os.Getenv(childVaultEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child fetches a secret as the CLI will: DefaultAzureCredential and the
// client's default options, nothing specific to tests.
func child() int {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := azsecrets.NewClient(os.Getenv(childVaultEnv), cred, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp, err := c.GetSecret(context.Background(), os.Getenv(childSecretEnv), "", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(*resp.Value)
	return 0
}

var versionID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestSetAndGet(t *testing.T) {
	s := New(t, Options{})
	c := s.Client(t)
	set, err := c.SetSecret(t.Context(), "db", azsecrets.SetSecretParameters{
		Value:       to.Ptr("v1"),
		ContentType: to.Ptr("text/plain"),
		Tags:        map[string]*string{"app": to.Ptr("reporting")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := set.ID.Version()
	v2 := s.Set("db", "v2")
	for _, v := range []string{v1, v2} {
		if !versionID.MatchString(v) {
			t.Errorf("version %q is not 32 hex digits", v)
		}
	}

	tests := []struct {
		name, secret, version string
		want, wantVersion     string
	}{
		{"latest", "db", "", "v2", v2},
		{"older version", "db", v1, "v1", v1},
		{"latest version by id", "db", v2, "v2", v2},
		{"name in another case", "DB", "", "v2", v2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.GetSecret(t.Context(), tc.secret, tc.version, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Value != tc.want || got.ID.Name() != "db" || got.ID.Version() != tc.wantVersion {
				t.Errorf("got %q, id %s; want %q, version %s", *got.Value, *got.ID, tc.want, tc.wantVersion)
			}
			a := got.Attributes
			if !*a.Enabled || time.Since(*a.Created) > time.Minute || !a.Updated.Equal(*a.Created) || *a.RecoveryLevel != "Recoverable+Purgeable" {
				t.Errorf("attributes: enabled %v, created %v, updated %v, recovery level %q", *a.Enabled, *a.Created, *a.Updated, *a.RecoveryLevel)
			}
		})
	}

	old, err := c.GetSecret(t.Context(), "db", v1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *old.ContentType != "text/plain" || *old.Tags["app"] != "reporting" {
		t.Errorf("content type %q, tags %v: not as set", *old.ContentType, old.Tags)
	}
	if value, version, ok := s.Latest("db"); value != "v2" || version != v2 || !ok {
		t.Errorf("Latest = %q, %q, %v", value, version, ok)
	}
	// Set from the test side is no request; challenges are not counted.
	if n := s.Count(OpSetSecret, "db"); n != 1 {
		t.Errorf("SetSecret count %d, want 1", n)
	}
	if n := s.Count(OpGetSecret, "db"); n != len(tests)+1 {
		t.Errorf("GetSecret count %d, want %d", n, len(tests)+1)
	}
}

// The first request of a client must be the bodiless challenge, answered
// 401, then the same request with the token and its body; later requests go
// straight through.
func TestChallenge(t *testing.T) {
	s := New(t, Options{})
	c := s.Client(t)
	if _, err := c.SetSecret(t.Context(), "db", azsecrets.SetSecretParameters{Value: to.Ptr("pw")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(t.Context(), "db", "", nil); err != nil {
		t.Fatal(err)
	}
	want := []Request{
		{Vault: "testvault", Op: OpSetSecret, Name: "db", Authorized: false, Status: http.StatusUnauthorized},
		{Vault: "testvault", Op: OpSetSecret, Name: "db", Authorized: true, Status: http.StatusOK},
		{Vault: "testvault", Op: OpGetSecret, Name: "db", Authorized: true, Status: http.StatusOK},
	}
	if got := s.Requests(); !slices.Equal(got, want) {
		t.Errorf("requests:\n got %+v\nwant %+v", got, want)
	}
	if value, _, _ := s.Latest("db"); value != "pw" {
		t.Errorf("stored %q: the body was not sent after the challenge", value)
	}
	// A client that did not read the challenge asks for no tenant or scope.
	if _, err := s.Credential().GetToken(t.Context(), policy.TokenRequestOptions{}); err == nil {
		t.Error("the credential gave a token without the challenge's scope and tenant")
	}
}

func TestListSecretProperties(t *testing.T) {
	names := []string{"e", "a", "c", "b", "d"}
	for _, tc := range []struct{ pageSize, wantPages int }{{1, 5}, {2, 3}, {0, 1}} {
		t.Run(fmt.Sprintf("page size %d", tc.pageSize), func(t *testing.T) {
			s := New(t, Options{PageSize: tc.pageSize})
			for _, n := range names {
				s.Set(n, "value of "+n)
			}
			s.Set("c", "second version") // still one item
			var got []string
			pages := 0
			for pager := s.Client(t).NewListSecretPropertiesPager(nil); pager.More(); pages++ {
				page, err := pager.NextPage(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range page.Value {
					if p.ID.Version() != "" || !*p.Attributes.Enabled {
						t.Errorf("item %s: want an id without version, enabled", *p.ID)
					}
					got = append(got, p.ID.Name())
				}
			}
			if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(got, want) {
				t.Errorf("listed %q, want %q", got, want)
			}
			if pages != tc.wantPages || s.Count(OpListSecrets, "") != tc.wantPages {
				t.Errorf("%d pages, %d list requests; want %d", pages, s.Count(OpListSecrets, ""), tc.wantPages)
			}
		})
	}
}

func TestListSecretPropertiesVersions(t *testing.T) {
	s := New(t, Options{PageSize: 2})
	s.Set("other", "x")
	want := []string{s.Set("db", "1"), s.Set("db", "2"), s.Set("db", "3")}
	var got []string
	pages := 0
	for pager := s.Client(t).NewListSecretPropertiesVersionsPager("db", nil); pager.More(); pages++ {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			if p.ID.Name() != "db" {
				t.Errorf("listed %s", *p.ID)
			}
			got = append(got, p.ID.Version())
		}
	}
	if !slices.Equal(got, want) || pages != 2 {
		t.Errorf("listed %q in %d pages, want %q in 2", got, pages, want)
	}
}

func TestErrors(t *testing.T) {
	get := func(name, version string) func(context.Context, *azsecrets.Client) error {
		return func(ctx context.Context, c *azsecrets.Client) error {
			_, err := c.GetSecret(ctx, name, version, nil)
			return err
		}
	}
	list := func(ctx context.Context, c *azsecrets.Client) error {
		_, err := c.NewListSecretPropertiesPager(nil).NextPage(ctx)
		return err
	}
	tests := []struct {
		name   string
		setup  func(*testing.T, *Server)
		call   func(context.Context, *azsecrets.Client) error
		status int
		code   string
	}{
		{"missing secret", nil, get("nope", ""), http.StatusNotFound, "SecretNotFound"},
		{"missing version", nil, get("db", strings.Repeat("0", 32)), http.StatusNotFound, "SecretNotFound"},
		{"invalid name", nil, get("bad_name", ""), http.StatusBadRequest, "BadParameter"},
		{"denied secret", func(t *testing.T, s *Server) { s.Deny("db") }, get("db", ""), http.StatusForbidden, "Forbidden"},
		{"denied vault", func(t *testing.T, s *Server) { s.DenyAll(true) }, list, http.StatusForbidden, "Forbidden"},
		{"allowed again", func(t *testing.T, s *Server) { s.Deny("db"); s.Allow("db") }, get("db", ""), http.StatusOK, ""},
		{"disabled secret", func(t *testing.T, s *Server) {
			_, err := s.Client(t).SetSecret(t.Context(), "db", azsecrets.SetSecretParameters{
				Value: to.Ptr("off"), SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
		}, get("db", ""), http.StatusForbidden, "Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, Options{})
			s.Set("db", "pw")
			if tc.setup != nil {
				tc.setup(t, s)
			}
			err := tc.call(t.Context(), s.Client(t))
			if tc.status == http.StatusOK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != tc.status || re.ErrorCode != tc.code {
				t.Fatalf("got %v; want status %d, code %s", err, tc.status, tc.code)
			}
		})
	}
}

func TestWrongToken(t *testing.T) {
	s := New(t, Options{})
	s.Set("db", "pw")
	c, err := azsecrets.NewClient(s.URL(), StaticCredential("not-the-token"), s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(t.Context(), "db", "", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized || re.ErrorCode != "Unauthorized" {
		t.Fatalf("got %v; want 401 Unauthorized", err)
	}
	if n := s.Count(OpGetSecret, "db"); n != 0 {
		t.Errorf("%d requests served with a wrong token", n)
	}
}

// Details the client does not show: routes, api-version, maxresults and the
// nextLink's form, the challenge header.
func TestREST(t *testing.T) {
	s := New(t, Options{})
	s.Set("a", "1")
	s.Set("b", "2")
	const q = "?api-version=2026-04-01"
	tests := []struct {
		name, method, path string
		token              bool
		status             int
		check              func(t *testing.T, h http.Header, body map[string]any)
	}{
		{"latest with slash", "GET", "/secrets/a/" + q, true, 200, wantValue("1")},
		{"latest without slash", "GET", "/secrets/a" + q, true, 200, wantValue("1")},
		{"no api-version", "GET", "/secrets/a/", true, 400, wantCode("BadParameter")},
		{"no token", "GET", "/secrets/a/" + q, false, 401, func(t *testing.T, h http.Header, _ map[string]any) {
			want := `Bearer authorization="https://login.microsoftonline.com/` + TenantID + `", resource="https://vault.azure.net"`
			if got := h.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
		}},
		{"maxresults", "GET", "/secrets" + q + "&maxresults=1", true, 200, func(t *testing.T, _ http.Header, body map[string]any) {
			next, _ := body["nextLink"].(string)
			if items, _ := body["value"].([]any); len(items) != 1 || !strings.HasPrefix(next, "https://testvault.vault.azure.net:443/secrets"+q+"&") {
				t.Errorf("got %v", body)
			}
		}},
		{"maxresults too large", "GET", "/secrets" + q + "&maxresults=26", true, 400, wantCode("BadParameter")},
		{"last page", "GET", "/secrets" + q, true, 200, func(t *testing.T, _ http.Header, body map[string]any) {
			if next, ok := body["nextLink"]; !ok || next != nil {
				t.Errorf("nextLink %v, want null", next)
			}
		}},
		{"versions of a missing secret", "GET", "/secrets/nope/versions" + q, true, 200, func(t *testing.T, _ http.Header, body map[string]any) {
			if items, ok := body["value"].([]any); !ok || len(items) != 0 {
				t.Errorf("got %v, want an empty list", body)
			}
		}},
		{"not implemented", "DELETE", "/secrets/a" + q, true, 501, wantCode("NotImplemented")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, s.URL()+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.token {
				req.Header.Set("Authorization", "Bearer "+Token)
			}
			resp, err := s.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, body)
			}
			tc.check(t, resp.Header, body)
		})
	}
}

func wantValue(v string) func(*testing.T, http.Header, map[string]any) {
	return func(t *testing.T, _ http.Header, body map[string]any) {
		if body["value"] != v {
			t.Errorf("got %v, want value %q", body, v)
		}
	}
}

func wantCode(code string) func(*testing.T, http.Header, map[string]any) {
	return func(t *testing.T, _ http.Header, body map[string]any) {
		if e, _ := body["error"].(map[string]any); e["code"] != code {
			t.Errorf("got %v, want error code %s", body, code)
		}
	}
}

func TestVaults(t *testing.T) {
	s := New(t, Options{Vaults: []string{"testvault", "other"}})
	other := s.VaultNamed("other")
	s.Set("shared", "default's")
	other.Set("shared", "other's")
	other.Set("only-other", "x")

	for _, v := range []*Vault{s.Vault, other} {
		got, err := v.Client(t).GetSecret(t.Context(), "shared", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if want, _, _ := v.Latest("shared"); *got.Value != want || !strings.HasPrefix(string(*got.ID), v.URL()+"/") {
			t.Errorf("%s: got %q from %s, want %q", v.Name(), *got.Value, *got.ID, want)
		}
	}
	if _, err := s.Client(t).GetSecret(t.Context(), "only-other", "", nil); err == nil {
		t.Error("the default vault holds the other vault's secret")
	}
	if n := other.Count(OpGetSecret, "shared"); n != 1 {
		t.Errorf("other vault: %d GetSecret, want 1", n)
	}

	c, err := azsecrets.NewClient("https://nope.vault.azure.net", s.Credential(), s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	var dnsErr *net.DNSError
	if _, err := c.GetSecret(t.Context(), "shared", "", nil); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("unknown vault: got %v, want no such host", err)
	}
}

func TestStopStart(t *testing.T) {
	s := New(t, Options{})
	version := s.Set("db", "pw")
	c := s.Client(t)
	if _, err := c.GetSecret(t.Context(), "db", "", nil); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	if _, err := c.GetSecret(t.Context(), "db", "", nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("stopped: got %v, want connection refused", err)
	}

	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecret(t.Context(), "db", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Value != "pw" || got.ID.Version() != version {
		t.Errorf("after restart: %q %s, want the same secret", *got.Value, *got.ID)
	}
}

func TestHook(t *testing.T) {
	tests := []struct {
		name  string
		hook  Hook
		check func(error) bool
	}{
		{"outage", func(w http.ResponseWriter, req Request) bool {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return true
		}, func(err error) bool {
			var re *azcore.ResponseError
			return errors.As(err, &re) && re.StatusCode == http.StatusServiceUnavailable
		}},
		{"delay", func(w http.ResponseWriter, req Request) bool {
			time.Sleep(200 * time.Millisecond)
			return false
		}, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, Options{})
			s.Set("db", "pw")
			c := s.Client(t)
			var mu sync.Mutex // the hook runs on the server's goroutines
			var seen []Request
			s.SetHook(func(w http.ResponseWriter, req Request) bool {
				mu.Lock()
				seen = append(seen, req)
				mu.Unlock()
				return tc.hook(w, req)
			})
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if _, err := c.GetSecret(ctx, "db", "", nil); !tc.check(err) {
				t.Errorf("got %v", err)
			}
			s.SetHook(nil)
			if _, err := c.GetSecret(t.Context(), "db", "", nil); err != nil {
				t.Errorf("without the hook: %v", err)
			}
			want := []Request{{Vault: "testvault", Op: OpGetSecret, Name: "db", Authorized: true}}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(seen, want) {
				t.Errorf("hook saw %+v, want %+v", seen, want)
			}
		})
	}
}

// A child process reaches the server with Env alone: HTTPS_PROXY,
// SSL_CERT_FILE and a managed identity endpoint.
func TestChildProcess(t *testing.T) {
	s := New(t, Options{})
	s.Set("api-key", "from the test vault")
	cmd := exec.CommandContext(t.Context(), os.Args[0])
	cmd.Env = append(os.Environ(), s.Env(t)...)
	cmd.Env = append(cmd.Env, childVaultEnv+"="+s.URL(), childSecretEnv+"=api-key")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	if string(out) != "from the test vault" {
		t.Errorf("child printed %q", out)
	}
	if n := s.Count(OpGetSecret, "api-key"); n != 1 {
		t.Errorf("%d GetSecret, want 1", n)
	}
}
