package azure

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/azure/azuretest"
)

func key(path string) providers.Key { return providers.Key{Provider: "azure", Path: path} }

// calls counts the authorized requests of op since the last call.
type calls struct {
	s    *azuretest.Server
	seen map[azuretest.Op]int
}

func (c *calls) since(op azuretest.Op) int {
	n := c.s.Count(op, "")
	d := n - c.seen[op]
	c.seen[op] = n
	return d
}

// untilSettled waits until versions made now are past the settle window.
func untilSettled() { time.Sleep(settle + time.Second) }

// Two versions set within one second share their `updated` second in the
// list: the second one must still be seen.
func TestVersionsSameSecond(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t, azuretest.Options{})
	p, log := newProvider(t, s)
	c := &calls{s: s, seen: map[azuretest.Op]int{}}
	var k providers.Key
	var v2 string
	for try := 1; ; try++ {
		name := fmt.Sprintf("db%d", try)
		k = key("testvault/" + name)
		// Start early in a second, so both versions fall in it.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
		v1 := s.Set(name, "value-one-0001")
		got, err := p.Versions(t.Context(), []providers.Key{k})
		if err != nil || got[k] != v1 {
			t.Fatalf("got %v, %v; want %s", got, err, v1)
		}
		v2 = s.Set(name, "value-two-0002")
		b1, err1 := s.Client(t).GetSecret(t.Context(), name, v1, nil)
		b2, err2 := s.Client(t).GetSecret(t.Context(), name, v2, nil)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if b1.Attributes.Updated.Equal(*b2.Attributes.Updated) {
			break
		}
		if try == 3 {
			t.Fatal("three tries did not set two versions within one second")
		}
	}
	got, err := p.Versions(t.Context(), []providers.Key{k})
	if err != nil || got[k] != v2 {
		t.Fatalf("after a second version in the same second: got %v, %v; want %s", got, err, v2)
	}

	// Once the second is well past, the list alone answers.
	untilSettled()
	c.since(azuretest.OpGetSecret)
	for i := range 2 {
		got, err = p.Versions(t.Context(), []providers.Key{k})
		if err != nil || got[k] != v2 {
			t.Fatalf("poll %d: got %v, %v; want %s", i, got, err, v2)
		}
	}
	if n := c.since(azuretest.OpGetSecret); n != 1 {
		t.Errorf("%d GetSecret in two polls after settling, want 1 (the first settles)", n)
	}
	noValues(t, "log", log.String(), "value-one-0001", "value-two-0002")
}

// A poll lists the vault, page by page until it has seen every secret asked
// for, and reads only what changed.
func TestVersionsList(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t, azuretest.Options{PageSize: 2})
	p, log := newProvider(t, s)
	c := &calls{s: s, seen: map[azuretest.Op]int{}}
	versions := map[string]string{}
	for i := range 7 {
		name := fmt.Sprintf("s%d", i)
		versions[name] = s.Set(name, "value-of-"+name)
	}
	untilSettled()
	// Wanted: s1 (page 1), s2, s3 (page 2) and s5 (page 3), by both forms.
	keys := []providers.Key{key("testvault/s1"), key("testvault/S2"), key(s.URL() + "/secrets/s3"), key("testvault/s5"), key("testvault/s5")}
	for _, k := range keys {
		if _, err := p.Fetch(t.Context(), providers.Ref{Provider: k.Provider, Path: k.Path}); err != nil {
			t.Fatal(err)
		}
	}
	c.since(azuretest.OpGetSecret)
	want := map[providers.Key]string{keys[0]: versions["s1"], keys[1]: versions["s2"], keys[2]: versions["s3"], keys[3]: versions["s5"]}

	rotate := func(value string) func() {
		return func() {
			versions["s3"] = s.Set("s3", value)
			want[keys[2]] = versions["s3"]
		}
	}
	tests := []struct {
		name        string
		change      func()
		lists, gets int
	}{
		{"unchanged", func() {}, 3, 0},
		{"new version", rotate("value-of-s3-rotated"), 3, 1},
		{"another, likely in the same second", rotate("value-of-s3-again"), 3, 1},
		{"unchanged but too recent to trust the list", func() {}, 3, 1},
		{"settled; other secrets change", func() { untilSettled(); s.Set("s0", "x"); s.Set("s6", "y") }, 3, 1},
		{"unchanged", func() {}, 3, 0},
	}
	for _, tc := range tests {
		tc.change()
		got, err := p.Versions(t.Context(), keys)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
		if l, g := c.since(azuretest.OpListSecrets), c.since(azuretest.OpGetSecret); l != tc.lists || g != tc.gets {
			t.Errorf("%s: %d list pages and %d GetSecret, want %d and %d", tc.name, l, g, tc.lists, tc.gets)
		}
	}
	noValues(t, "log", log.String(), "value-of-")
}

func TestVersionsCases(t *testing.T) {
	const pinned = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		setup func(*azuretest.Server)
		keys  []providers.Key
		want  map[providers.Key]string // "db" stands for the secret's version
		err   error
		gets  int
		log   string
	}{
		{name: "missing secret", keys: []providers.Key{key("testvault/db"), key("testvault/nope")},
			want: map[providers.Key]string{key("testvault/db"): "db"}, gets: 1},
		{name: "pinned by URL", keys: []providers.Key{key("https://testvault.vault.azure.net/secrets/db/" + pinned)},
			want: map[providers.Key]string{key("https://testvault.vault.azure.net/secrets/db/" + pinned): pinned}},
		{name: "listing denied", setup: func(s *azuretest.Server) {
			s.SetHook(func(w http.ResponseWriter, r azuretest.Request) bool {
				if r.Op != azuretest.OpListSecrets {
					return false
				}
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(`{"error":{"code":"Forbidden","message":"The user does not have secrets list permission."}}`))
				return true
			})
		}, keys: []providers.Key{key("testvault/db"), key("testvault/nope")},
			want: map[providers.Key]string{key("testvault/db"): "db"}, gets: 2, log: "polling each secret instead"},
		{name: "denied", setup: func(s *azuretest.Server) { s.DenyAll(true) }, keys: []providers.Key{key("testvault/db")},
			err: providers.ErrDenied, gets: 1},
		{name: "bad reference", keys: []providers.Key{key("testvault/db_1")}, err: providers.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := azuretest.New(t, azuretest.Options{})
			version := s.Set("db", "db-value-123")
			if tc.setup != nil {
				tc.setup(s)
			}
			p, log := newProvider(t, s)
			got, err := p.Versions(t.Context(), tc.keys)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if err != nil {
				t.Log(err)
				noValues(t, "error", err.Error(), "db-value-123")
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error of more than one line: %q", err)
				}
			}
			want := map[providers.Key]string{}
			for k, v := range tc.want {
				want[k] = strings.Replace(v, "db", version, 1)
			}
			if tc.err == nil && !maps.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if n := s.Count(azuretest.OpGetSecret, ""); n != tc.gets {
				t.Errorf("%d GetSecret, want %d", n, tc.gets)
			}
			if !strings.Contains(log.String(), tc.log) {
				t.Errorf("log %q does not say %q", log.String(), tc.log)
			}
			noValues(t, "log", log.String(), "db-value-123")
		})
	}
}
