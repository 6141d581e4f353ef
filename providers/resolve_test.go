package providers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// store is a fake at the one-method Provider seam: a map of secrets that
// counts fetches and can be made unconfigured or slow.
type store struct {
	secrets    map[string]string
	configured bool
	delay      time.Duration
	mu         sync.Mutex
	fetches    map[Key]int
	inFlight   atomic.Int32
	maxFlight  atomic.Int32
}

func newStore(configured bool, kv ...string) *store {
	s := &store{secrets: map[string]string{}, configured: configured, fetches: map[Key]int{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.secrets[kv[i]] = kv[i+1]
	}
	return s
}

func (s *store) Configured() bool { return s.configured }

func (s *store) Fetch(ctx context.Context, ref Ref) (Secret, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxFlight.Load()
		if n <= m || s.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if ref.Field != "" {
		return Secret{}, fmt.Errorf("fetch got a field: %q", ref.Field)
	}
	s.mu.Lock()
	s.fetches[ref.Key()]++
	s.mu.Unlock()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return Secret{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	v, ok := s.secrets[ref.Path]
	if !ok {
		return Secret{}, fmt.Errorf("%w: no secret %s", ErrNotFound, ref.Path)
	}
	return NewSecret(v, "ver-"+ref.Path), nil
}

type lookup map[string]string

func (l lookup) Lookup(name string) (string, string, bool) {
	v, ok := l[name]
	return v, "/home/dev/.env", ok
}
func (l lookup) String() string { return "/home/dev/.env" }

func TestResolve(t *testing.T) {
	cloud := newStore(true, "db", `{"user":"app","password":"pw-123456"}`, "key", "sk-abcdef")
	r := &Resolver{Providers: map[string]Provider{"aws": cloud}, Default: "aws", Fallback: FallbackOff}
	got, err := r.Resolve(context.Background(), []Var{
		{"URL", "postgresql://$<aws:db#user>:$<aws:db#password>@db/app"},
		{"API_KEY", "$<key>"},
		{"ESCAPED", "$$<literal>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"URL": "postgresql://app:pw-123456@db/app", "API_KEY": "sk-abcdef", "ESCAPED": "$<literal>"}
	for _, g := range got {
		if g.Value.Reveal() != want[g.Name] {
			t.Errorf("%s = %q, want %q", g.Name, g.Value.Reveal(), want[g.Name])
		}
	}
	if n := cloud.fetches[Key{Provider: "aws", Path: "db"}]; n != 1 {
		t.Errorf("db fetched %d times, want once", n)
	}
	if src := got[0].Sources; len(src) != 2 || src[0].Provider != "aws" || src[0].Version != "ver-db" || src[1].Ref.Field != "password" {
		t.Errorf("URL sources = %+v", src)
	}
}

func TestResolveManyOnceInParallel(t *testing.T) {
	s := newStore(true)
	var vars []Var
	for i := range 100 {
		s.secrets[fmt.Sprintf("s%d", i)] = fmt.Sprintf(`{"v":"value-%d"}`, i)
		vars = append(vars, Var{fmt.Sprintf("A%d", i), fmt.Sprintf("$<p:s%d#v>", i)}, Var{fmt.Sprintf("B%d", i), fmt.Sprintf("$<p:s%d>", i)})
	}
	s.delay = 20 * time.Millisecond
	r := &Resolver{Providers: map[string]Provider{"p": s}, Parallel: 8}
	got, err := r.Resolve(context.Background(), vars)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 {
		t.Fatalf("resolved %d variables, want 200", len(got))
	}
	for k, n := range s.fetches {
		if n != 1 {
			t.Errorf("%v fetched %d times", k, n)
		}
	}
	if m := s.maxFlight.Load(); m != 8 {
		t.Errorf("at most %d fetches at once, want the bound 8", m)
	}
}

func TestResolveErrors(t *testing.T) {
	s := newStore(true, "db", `{"user":"app"}`)
	r := &Resolver{Providers: map[string]Provider{"aws": s}, Fallback: FallbackOff, Timeout: 50 * time.Millisecond}
	tests := []struct {
		v    Var
		kind error
		msg  string
	}{
		{Var{"BAD", "x$<aws:db"}, ErrMalformed, `BAD: column 2: missing closing ">"`},
		{Var{"GONE", "$<aws:nope>"}, ErrNotFound, "GONE: $<aws:nope>: aws: not found: no secret nope"},
		{Var{"FIELD", "$<aws:db#password>"}, ErrNotFound, `FIELD: $<aws:db#password>: aws: not found: #password: no key "password" (keys: user)`},
		{Var{"WHO", "$<gcp:x>"}, ErrConfig, `WHO: $<gcp:x>: unknown provider "gcp" (known: aws)`},
		{Var{"NODEFAULT", "$<x>"}, ErrConfig, `NODEFAULT: $<x>: unknown provider ""`},
	}
	for _, tt := range tests {
		_, err := r.Resolve(context.Background(), []Var{tt.v})
		if !errors.Is(err, tt.kind) || !strings.HasPrefix(err.Error(), tt.msg) {
			t.Errorf("%s: error %q, want kind %v and prefix %q", tt.v.Name, err, tt.kind, tt.msg)
		}
		if strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%s: error spans lines: %q", tt.v.Name, err)
		}
	}
	// Every failure is reported, one line each; what resolved is returned.
	got, err := r.Resolve(context.Background(), []Var{{"OK", "$<aws:db#user>"}, tests[1].v, tests[3].v})
	if len(got) != 1 || got[0].Name != "OK" || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("partial resolve = %v, %q", got, err)
	}
	// The timeout is per fetch.
	s.delay = time.Second
	start := time.Now()
	_, err = r.Resolve(context.Background(), []Var{{"SLOW", "$<aws:db#user>"}})
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 500*time.Millisecond {
		t.Errorf("slow fetch: %v after %v", err, time.Since(start))
	}
}

func TestResolveFallback(t *testing.T) {
	unconfigured := newStore(false, "db", `{"password":"from-the-cloud"}`)
	configured := newStore(true, "db", `{"password":"from-the-cloud"}`)
	local := newStore(true, "TOKEN", "dotenv-token")
	dotenv := lookup{"DB_PASSWORD": "local-password", "URL": "postgresql://local"}
	plainLocal := struct{ Provider }{local} // a local provider: no Configurer
	vars := []Var{{"DB_PASSWORD", "$<aws:db#password>"}, {"URL", "postgresql://$<aws:db#password>@db"}, {"T", "$<dotenv:TOKEN>"}}
	tests := []struct {
		name     string
		aws      *store
		fallback Fallback
		want     map[string]string
		fetches  int
		err      string
	}{
		{"auto, not configured", unconfigured, FallbackAuto,
			map[string]string{"DB_PASSWORD": "local-password", "URL": "postgresql://local", "T": "dotenv-token"}, 0, ""},
		{"auto, configured", configured, FallbackAuto,
			map[string]string{"DB_PASSWORD": "from-the-cloud", "URL": "postgresql://from-the-cloud@db", "T": "dotenv-token"}, 1, ""},
		{"only", configured, FallbackOnly,
			map[string]string{"DB_PASSWORD": "local-password", "URL": "postgresql://local", "T": "dotenv-token"}, 0, ""},
		{"off, not configured", unconfigured, FallbackOff,
			map[string]string{"DB_PASSWORD": "from-the-cloud", "URL": "postgresql://from-the-cloud@db", "T": "dotenv-token"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.aws.fetches = map[Key]int{}
			r := &Resolver{Providers: map[string]Provider{"aws": tt.aws, "dotenv": plainLocal}, Fallback: tt.fallback, Dotenv: dotenv}
			got, err := r.Resolve(context.Background(), vars)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				if g.Value.Reveal() != tt.want[g.Name] {
					t.Errorf("%s = %q, want %q", g.Name, g.Value.Reveal(), tt.want[g.Name])
				}
				wantFallback := tt.fetches == 0 && g.Name != "T"
				if (g.Sources[0].Fallback != "") != wantFallback {
					t.Errorf("%s: fallback %q, want fallback %v", g.Name, g.Sources[0].Fallback, wantFallback)
				}
			}
			if n := tt.aws.fetches[Key{Provider: "aws", Path: "db"}]; n != tt.fetches {
				t.Errorf("aws fetched %d times, want %d", n, tt.fetches)
			}
		})
	}
	// A configured provider that fails is an error, never a silent fallback.
	r := &Resolver{Providers: map[string]Provider{"aws": configured}, Fallback: FallbackAuto, Dotenv: dotenv}
	if _, err := r.Resolve(context.Background(), []Var{{"DB_PASSWORD", "$<aws:missing>"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("failing configured provider: %v", err)
	}
	// No plain value to fall back on: the error names the variable and the file.
	r = &Resolver{Providers: map[string]Provider{"aws": unconfigured}, Fallback: FallbackAuto, Dotenv: dotenv}
	_, err := r.Resolve(context.Background(), []Var{{"OTHER", "$<aws:db#password>"}})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "aws not configured here") ||
		!strings.Contains(err.Error(), "/home/dev/.env has no plain value for OTHER") {
		t.Errorf("missing fallback: %v", err)
	}
}
