package sidecar

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestCheckIssuer(t *testing.T) {
	for issuer, ok := range map[string]bool{
		"https://login.example.com/realms/a": true,
		"http://127.0.0.1:8080":              true,
		"http://localhost:5556/dex":          true,
		"http://[::1]:9000":                  true,
		"http://issuer.example.com":          false,
		"http://10.0.0.1":                    false,
		"ftp://issuer.example.com":           false,
		"issuer.example.com":                 false,
		"/relative":                          false,
	} {
		if err := CheckIssuer(issuer); (err == nil) != ok {
			t.Errorf("%q: %v", issuer, err)
		}
	}
}

func TestValidSub(t *testing.T) {
	for sub, ok := range map[string]bool{
		"alice":                                true,
		"248289761001":                         true,
		"alice@example.com":                    true,
		"a.b_c-d":                              true,
		"0b1f6e2a-4c5d-4e8f-9a0b-1c2d3e4f5a6b": true,
		"":                                     false,
		".":                                    false,
		"..":                                   false,
		"a..b":                                 false,
		"../bob":                               false,
		"a/b":                                  false,
		"auth0|123":                            false,
		"a b":                                  false,
		"a\x00":                                false,
		"ä":                                    false,
	} {
		if got := validSub(sub); got != ok {
			t.Errorf("%q: %v", sub, got)
		}
	}
}

func TestParseEventID(t *testing.T) {
	for _, tt := range []struct {
		id        string
		stream, n int
		ok        bool
	}{
		{"3-0", 3, 0, true},
		{"0-17", 0, 17, true},
		{"12-345", 12, 345, true},
		{"", 0, 0, false},
		{"3", 0, 0, false},
		{"a-1", 0, 0, false},
		{"-1-2", 0, 0, false},
		{"1--2", 0, 0, false},
	} {
		stream, n, ok := parseEventID(tt.id)
		if ok != tt.ok || ok && (stream != tt.stream || n != tt.n) {
			t.Errorf("%q: %d %d %v", tt.id, stream, n, ok)
		}
	}
}

// Any Last-Event-ID a client sends parses or is refused, and one of ours
// reads back as it was written.
func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"3-0", "0-17", "", "-", "9223372036854775807-1", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		stream, n, ok := parseEventID(id)
		if !ok {
			return
		}
		if stream < 0 || n < 0 {
			t.Fatalf("%q: %d %d", id, stream, n)
		}
		c := &call{stream: stream}
		if s2, n2, ok := parseEventID(c.eventID(n)); !ok || s2 != stream || n2 != n {
			t.Fatalf("%q: %d-%d reads back as %d-%d", id, stream, n, s2, n2)
		}
	})
}

// A token signed with a key the JWKS did not have when it was fetched is
// verified after one fetch of the keys, but made-up key ids do not make
// the sidecar fetch them again sooner than keyRefresh.
func TestKeySetRefresh(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	var mu sync.Mutex
	keys := []jose.JSONWebKey{{Key: &k1.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}
	fetches := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
	}))
	defer srv.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return fetches
	}
	ks := &keySet{url: srv.URL, client: srv.Client()}
	ctx := context.Background()
	if err := ks.fetch(ctx); err != nil {
		t.Fatal(err)
	}
	token := func(key *rsa.PrivateKey, kid string) string {
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
		s, _ := jwt.Signed(signer).Claims(jwt.Claims{Subject: "alice"}).Serialize()
		return s
	}
	if _, err := ks.VerifySignature(ctx, token(k1, "k1")); err != nil {
		t.Fatalf("the known key: %v", err)
	}
	// The issuer rotates to k2.
	mu.Lock()
	keys = append(keys, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"})
	mu.Unlock()
	for range 5 {
		if _, err := ks.VerifySignature(ctx, token(k2, "k2")); err == nil {
			t.Fatal("a key fetched within keyRefresh of the last fetch")
		}
	}
	if n := count(); n != 1 {
		t.Errorf("%d fetches within keyRefresh, want 1", n)
	}
	ks.mu.Lock()
	ks.fetched = time.Now().Add(-keyRefresh)
	ks.mu.Unlock()
	if _, err := ks.VerifySignature(ctx, token(k2, "k2")); err != nil {
		t.Errorf("the new key after keyRefresh: %v", err)
	}
	if _, err := ks.VerifySignature(ctx, token(k1, "k2")); err == nil {
		t.Error("a token signed by k1 under k2's id was taken")
	}
	if n := count(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// What OIDC costs a request: the first with a token verifies its
// signature and claims; later ones find it remembered (the target: under
// 50 µs).
func BenchmarkVerify(b *testing.B) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/jwks" {
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/jwks"})
	}))
	defer srv.Close()
	issuer = srv.URL
	ctx := context.Background()
	o, err := NewOIDC(ctx, issuer, "bench", srv.Client())
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	token, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: issuer, Subject: "alice", Audience: jwt.Audience{"bench"}, Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).Serialize()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			o.mu.Lock()
			clear(o.valid)
			o.mu.Unlock()
			if _, err := o.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if sub, err := o.Verify(ctx, token); err != nil || sub != "alice" {
				b.Fatal(sub, err)
			}
		}
	})
}
