package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
	"github.com/mcp-secrets/mcp-secrets/redact"
)

func TestChildEnv(t *testing.T) {
	environ := []string{"PATH=/bin", "AWS_SECRET_ACCESS_KEY=k", "VAULT_TOKEN=t", "KEEP=1", "FROM_BOTH=environ"}
	files := map[string]string{"FROM_FILE": "f", "FROM_BOTH": "file"}
	resolved := []providers.Resolved{{Name: "API_KEY", Value: providers.NewSecret("v", "")}}
	for _, tt := range []struct {
		name string
		o    EnvOptions
		want []string
	}{
		{"credentials stripped", EnvOptions{}, []string{"API_KEY=v", "FROM_BOTH=environ", "FROM_FILE=f", "KEEP=1", "PATH=/bin"}},
		{"one kept", EnvOptions{Keep: []string{"VAULT_TOKEN"}}, []string{"API_KEY=v", "FROM_BOTH=environ", "FROM_FILE=f", "KEEP=1", "PATH=/bin", "VAULT_TOKEN=t"}},
		{"clean", EnvOptions{Clean: true, Keep: []string{"KEEP"}}, []string{"API_KEY=v", "FROM_BOTH=file", "FROM_FILE=f", "KEEP=1"}},
	} {
		if got := ChildEnv(environ, files, resolved, tt.o); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckArgs(t *testing.T) {
	if err := CheckArgs([]string{"server", "--url=$<aws:db#url>"}, false); !errors.Is(err, providers.ErrConfig) || !strings.Contains(err.Error(), "argument 1 holds the reference") {
		t.Errorf("a reference in argv: %v", err)
	}
	if err := CheckArgs([]string{"server", "--url=$<aws:db#url>"}, true); err != nil {
		t.Errorf("allowed: %v", err)
	}
	if err := CheckArgs([]string{"server", "$$<literal>"}, false); err != nil {
		t.Errorf("an escaped $$<: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	a := Launch{Argv: []string{"s", "x"}, Env: []string{"A=1", "B=2"}}
	if a.Fingerprint() != (Launch{Argv: []string{"s", "x"}, Env: []string{"B=2", "A=1"}}).Fingerprint() {
		t.Error("the order of the environment changed the fingerprint")
	}
	for _, b := range []Launch{
		{Argv: []string{"s", "x"}, Env: []string{"A=1", "B=3"}},
		{Argv: []string{"sx"}, Env: []string{"A=1", "B=2"}},
		{Argv: []string{"s", "x", "A=1"}, Env: []string{"B=2"}},
	} {
		if a.Fingerprint() == b.Fingerprint() {
			t.Errorf("%v and %v have one fingerprint", a, b)
		}
	}
}

// Every value resolved so far stays a redaction target after a rotation,
// each reference's value on its own as well as its variable's.
func TestResolverKeepsOldValuesHidden(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	write := func(pw string) {
		if err := os.WriteFile(env, []byte("DB_PASSWORD="+pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first-password-1")
	environ := []string{"DATABASE_URL=postgresql://app:$<DB_PASSWORD>@db/app"}
	stores := func(f *dotenv.Files) map[string]providers.Provider { return map[string]providers.Provider{"dotenv": f} }
	r, err := New(Options{EnvFiles: []string{env}, Default: "dotenv", Fallback: providers.FallbackOff}, []string{"server"}, environ, stores, nil)
	if err != nil {
		t.Fatal(err)
	}
	var hidden []redact.Secret
	r.Hide = func(s []redact.Secret) { hidden = s }
	for _, pw := range []string{"first-password-1", "second-password-2"} {
		write(pw)
		res, err := r.Resolve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(res.Launch.Env, "DATABASE_URL=postgresql://app:"+pw+"@db/app") {
			t.Fatalf("the child's environment %q lacks the URL with %s", res.Launch.Env, pw)
		}
	}
	for _, want := range []string{"first-password-1", "second-password-2", "postgresql://app:first-password-1@db/app", "postgresql://app:second-password-2@db/app"} {
		if !slices.ContainsFunc(hidden, func(s redact.Secret) bool { return s.Value == want && s.Name == "DATABASE_URL" }) {
			t.Errorf("%q is not hidden after the rotation: %d targets", want, len(hidden))
		}
	}
}

// serve resolves one server's references for many users at once, each with
// a watcher of its own: one Resolver, called concurrently. Every user's
// values stay hidden, and nothing races (this package runs under -race).
func TestResolverConcurrently(t *testing.T) {
	env := filepath.Join(t.TempDir(), ".env")
	var users []string
	var file strings.Builder
	for i := range 8 {
		user := fmt.Sprintf("user%d", i)
		users = append(users, user)
		fmt.Fprintf(&file, "TOKEN_%s=token-of-%s\n", user, user)
	}
	if err := os.WriteFile(env, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	stores := func(f *dotenv.Files) map[string]providers.Provider { return map[string]providers.Provider{"dotenv": f} }
	r, err := New(Options{EnvFiles: []string{env}, Default: "dotenv", Fallback: providers.FallbackOff}, []string{"server"}, nil, stores, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hidden []redact.Secret
	r.Hide = func(s []redact.Secret) {
		mu.Lock()
		defer mu.Unlock()
		if len(s) > len(hidden) {
			hidden = s
		}
	}
	var wg sync.WaitGroup
	for _, user := range users {
		wg.Go(func() {
			for range 20 {
				if _, err := r.ResolveEnv(context.Background(), nil, map[string]string{"TOKEN": "$<TOKEN_" + user + ">"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, user := range users {
		if !slices.ContainsFunc(hidden, func(s redact.Secret) bool { return s.Value == "token-of-"+user }) {
			t.Errorf("%s's token is not hidden: %d targets", user, len(hidden))
		}
	}
}
