// Package providertest is the suite every secret store's provider runs
// against its real test server: the reference forms, pinned versions, the
// kinds of failure and their one-line messages, rotation detection, and
// that no error carries a value. A store's own tests keep what only that
// store has (ARNs, leases, logins, challenges).
package providertest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// A Store is a secret store with its test server, as the suite drives it.
// The suite names secrets with lowercase letters alone, sets each before it
// refers to it, and never sets "absent".
type Store interface {
	// Provider is the provider under test, reading the store.
	Provider() providers.Provider
	// Set stores value as the secret name: creates it, or adds a version.
	// A JSON object goes in the store's structured form where it has one
	// (Vault's data); other values in the form whose whole reads back as
	// the value. It returns the version the provider reports for what it
	// stored, "" for a store without versions.
	Set(t testing.TB, name, value string) (version string)
	// Ref is the reference to the secret name, naming its provider: to its
	// field unless field is "", pinned to version unless version is "".
	Ref(name, field, version string) string
}

// A store's optional abilities, each found by a type assertion: the suite
// runs the case of each one the store has, and no other.
type (
	// Versioned is a store that keeps versions: its Set returns the
	// version it stored, and a reference can pin one.
	Versioned interface{ Versioned() }
	// Denier is a store with access control a test can use.
	Denier interface {
		// Deny makes the secret name refused to the provider it returns
		// (the store's own, or one with weaker credentials).
		Deny(t testing.TB, name string) providers.Provider
	}
	// Remote is a store reached over the network.
	Remote interface {
		// Unreachable returns a provider whose store does not answer (a
		// closed port, a stopped server), leaving the store as it was.
		Unreachable(t testing.TB) providers.Provider
	}
)

const (
	// fetchTimeout is the resolver's timeout per fetch, as the launcher's.
	fetchTimeout = 30 * time.Second
	// bound is the longest a failure may take: well inside fetchTimeout, so
	// it measures the provider's own retries.
	bound = 10 * time.Second
)

// Run runs the suite against s, each case a subtest. The cases of the
// abilities s lacks (versions, access control, a network) are not run, nor
// rotation for a provider rotation does not watch itself (the launcher
// watches the files it is given).
func Run(t *testing.T, s Store) {
	ref := parse(t, s.Ref("plain", "", ""))
	if ref.Provider == "" {
		t.Fatalf("%s: the suite's references must name their provider", s.Ref("plain", "", ""))
	}
	st := &suite{s: s, name: ref.Provider}
	t.Run("resolve", st.resolve)
	if _, ok := s.(Versioned); ok {
		t.Run("pinned version", st.pinned)
	}
	t.Run("not found", st.notFound)
	if d, ok := s.(Denier); ok {
		t.Run("denied", func(t *testing.T) { st.denied(t, d) })
	}
	if r, ok := s.(Remote); ok {
		t.Run("unavailable", func(t *testing.T) { st.unavailable(t, r) })
	}
	switch s.Provider().(type) {
	case providers.FileSource, providers.VersionLister:
		t.Run("rotation", st.rotation)
	}
}

type suite struct {
	s    Store
	name string // the provider's name in references
	// values are the strings the store holds: none may appear in an
	// error. Each case reads back what it set before it looks at a
	// failure, so a value that leaked would be seen.
	values []string
}

// set stores value as name, keeping its strings to look for in errors.
func (st *suite) set(t *testing.T, name, value string) string {
	t.Helper()
	st.values = append(st.values, leaves(value)...)
	return st.s.Set(t, name, value)
}

// leaves are the strings of a JSON value, or the value itself.
func leaves(value string) []string {
	var v any
	if json.Unmarshal([]byte(value), &v) != nil {
		return []string{value}
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func (st *suite) resolver(p providers.Provider) *providers.Resolver {
	return &providers.Resolver{
		Providers: map[string]providers.Provider{st.name: p},
		Fallback:  providers.FallbackOff,
		Timeout:   fetchTimeout,
	}
}

// resolves checks that value resolves to want through the store's provider,
// and returns the sources of its references.
func (st *suite) resolves(t *testing.T, value, want string) []providers.Source {
	t.Helper()
	res, err := st.resolver(st.s.Provider()).Resolve(t.Context(), []providers.Var{{Name: "V", Value: value}})
	if err != nil {
		t.Fatalf("%s: %v", value, err)
	}
	if got := res[0].Value.Reveal(); got != want {
		t.Fatalf("%s = %q, want %q", value, got, want)
	}
	return res[0].Sources
}

// fails checks that ref, resolved through p, fails in bounded time as one
// line of the kind, naming the variable, the reference and the provider,
// without a value.
func (st *suite) fails(t *testing.T, p providers.Provider, ref string, kind error) {
	t.Helper()
	begin := time.Now()
	_, err := st.resolver(p).Resolve(t.Context(), []providers.Var{{Name: "V", Value: ref}})
	took := time.Since(begin)
	if !errors.Is(err, kind) {
		t.Fatalf("%s: %v, want %v", ref, err, kind)
	}
	t.Logf("%v: %s", took.Round(time.Millisecond), err)
	st.oneLine(t, err)
	if prefix := "V: " + ref + ": " + st.name + ": "; !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("error %q does not start with %q", err, prefix)
	}
	if took > bound {
		t.Errorf("%s failed after %v, want within %v", ref, took, bound)
	}
}

// oneLine checks that an error is one line and carries no value.
func (st *suite) oneLine(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error of more than one line: %q", msg)
	}
	for _, v := range st.values {
		if strings.Contains(msg, v) {
			t.Errorf("error %q carries the value %q", msg, v)
		}
	}
}

const (
	plain  = "providertest-plain-0d9e71"
	user   = "providertest-user-5b21c4"
	host   = "db.providertest.internal"
	object = `{"user":"` + user + `","db":{"host":"` + host + `","port":5432}}`
)

func (st *suite) resolve(t *testing.T) {
	vPlain := st.set(t, "plain", plain)
	vObject := st.set(t, "object", object)
	ref := st.s.Ref
	tests := []struct {
		name, value, want string
		versions          []string // of each reference
	}{
		{"whole", ref("plain", "", ""), plain, []string{vPlain}},
		{"field", ref("object", "user", ""), user, []string{vObject}},
		{"nested field", ref("object", "db.host", ""), host, []string{vObject}},
		{"number field", ref("object", "db.port", ""), "5432", []string{vObject}},
		{"object field", ref("object", "db", ""), `{"host":"` + host + `","port":5432}`, []string{vObject}},
		{"in a template", "u=" + ref("object", "user", "") + "&p=" + ref("plain", "", "") + "&$$<x>",
			"u=" + user + "&p=" + plain + "&$<x>", []string{vObject, vPlain}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs := st.resolves(t, tt.value, tt.want)
			if len(srcs) != len(tt.versions) {
				t.Fatalf("%d sources, want %d", len(srcs), len(tt.versions))
			}
			for i, src := range srcs {
				if src.Version != tt.versions[i] {
					t.Errorf("%s: version %q, want %q (what the store gave)", src.Ref, src.Version, tt.versions[i])
				}
			}
		})
	}
}

func (st *suite) pinned(t *testing.T) {
	const one, two = "providertest-version-one-41f0", "providertest-version-two-c9d3"
	v1 := st.set(t, "pinned", one)
	v2 := st.set(t, "pinned", two)
	if v1 == "" {
		t.Fatal("a versioned store's Set returned no version")
	}
	if v1 == v2 {
		t.Fatalf("two versions, one id %q", v1)
	}
	for _, tt := range []struct{ version, want, wantVersion string }{
		{v1, one, v1},
		{v2, two, v2},
		{"", two, v2},
	} {
		srcs := st.resolves(t, st.s.Ref("pinned", "", tt.version), tt.want)
		if srcs[0].Version != tt.wantVersion {
			t.Errorf("%s: version %q, want %q", srcs[0].Ref, srcs[0].Version, tt.wantVersion)
		}
	}
}

func (st *suite) notFound(t *testing.T) {
	const pass = "providertest-notfound-pass-77c1"
	st.set(t, "fields", `{"pass":"`+pass+`"}`)
	// The control: the value is there to leak.
	st.resolves(t, st.s.Ref("fields", "pass", ""), pass)
	for _, ref := range []string{
		st.s.Ref("absent", "", ""),
		st.s.Ref("absent", "pass", ""),
		st.s.Ref("fields", "nope", ""),
	} {
		st.fails(t, st.s.Provider(), ref, providers.ErrNotFound)
	}
}

func (st *suite) denied(t *testing.T, d Denier) {
	const locked = "providertest-locked-a3f9e2"
	st.set(t, "locked", locked)
	ref := st.s.Ref("locked", "", "")
	st.resolves(t, ref, locked) // readable until denied
	st.fails(t, d.Deny(t, "locked"), ref, providers.ErrDenied)
}

func (st *suite) unavailable(t *testing.T, r Remote) {
	p := r.Unreachable(t)
	ref := st.s.Ref("unreached", "", "")
	st.fails(t, p, ref, providers.ErrUnavailable)
	lister, ok := p.(providers.VersionLister)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), fetchTimeout)
	defer cancel()
	begin := time.Now()
	_, err := lister.Versions(ctx, []providers.Key{parse(t, ref).Key()})
	if took := time.Since(begin); took > bound {
		t.Errorf("Versions failed after %v, want within %v", took, bound)
	}
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Versions: %v, want %v", err, providers.ErrUnavailable)
	}
	st.oneLine(t, err)
}

// rotation checks that the ability rotation watches a store by sees a new
// value, and sees nothing when nothing changed. Rotation looks for a
// FileSource before a VersionLister, and so does this.
func (st *suite) rotation(t *testing.T) {
	const one, two = "providertest-rotation-one-6d02", "providertest-rotation-two-e817"
	st.set(t, "rotating", one)
	ref := st.s.Ref("rotating", "", "")
	fetched := st.resolves(t, ref, one)[0].Version
	change := func() {
		t.Helper()
		st.set(t, "rotating", two)
		st.resolves(t, ref, two)
	}
	switch p := st.s.Provider().(type) {
	case providers.FileSource:
		st.files(t, p, parse(t, ref).Key(), change)
	case providers.VersionLister:
		st.versions(t, p, parse(t, ref).Key(), fetched, change)
	}
}

// versions checks a VersionLister: its version of a secret is the one a
// fetch gave (else every poll would see a change), stays while nothing
// changes, and moves when the value does; a secret that does not exist is
// absent, not an error.
func (st *suite) versions(t *testing.T, p providers.VersionLister, key providers.Key, fetched string, change func()) {
	absent := parse(t, st.s.Ref("absent", "", "")).Key()
	poll := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), fetchTimeout)
		defer cancel()
		got, err := p.Versions(ctx, []providers.Key{key, absent})
		if err != nil {
			st.oneLine(t, err)
			t.Fatalf("Versions: %v", err)
		}
		if v, ok := got[absent]; ok {
			t.Errorf("a secret that does not exist has version %q", v)
		}
		if got[key] == "" {
			t.Fatalf("Versions: %v, no version for %s", got, key)
		}
		return got[key]
	}
	first := poll()
	if fetched != "" && first != fetched {
		t.Errorf("Versions says %q, the fetch said %q: every poll would see a change", first, fetched)
	}
	if again := poll(); again != first {
		t.Errorf("nothing changed, yet the version went from %q to %q", first, again)
	}
	change()
	changed := poll()
	if changed == first {
		t.Errorf("a new value, and the version stayed %q", first)
	}
	if again := poll(); again != changed {
		t.Errorf("nothing changed since the new value, yet the version went from %q to %q", changed, again)
	}
}

// files checks a FileSource: the files it names for a secret are absolute,
// and what they hold changes when the value does, and only then.
func (st *suite) files(t *testing.T, p providers.FileSource, key providers.Key, change func()) {
	files := p.Files(key)
	if len(files) == 0 {
		t.Fatalf("Files(%s) names no file", key)
	}
	digest := func() [32]byte {
		t.Helper()
		h := sha256.New()
		for _, f := range files {
			if !filepath.IsAbs(f) {
				t.Fatalf("Files(%s): %s is not absolute: the watcher runs from any directory", key, f)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
		}
		return [32]byte(h.Sum(nil))
	}
	first := digest()
	if digest() != first {
		t.Error("nothing changed, yet the files did")
	}
	change()
	if digest() == first {
		t.Errorf("a new value, and the files %v hold what they held", files)
	}
}

func parse(t *testing.T, ref string) providers.Ref {
	t.Helper()
	tmpl, err := providers.Parse(ref)
	if err != nil || len(tmpl.Refs()) != 1 {
		t.Fatalf("%q is not one reference: %v", ref, err)
	}
	return tmpl.Refs()[0]
}
