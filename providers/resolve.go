package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Var is one variable of the child's environment as configured: its value
// may hold references.
type Var struct {
	Name, Value string
}

// Resolved is a variable with its references replaced by values.
type Resolved struct {
	Name    string
	Value   Secret
	Sources []Source // one per reference in the configured value
}

// Source says where one reference's value came from.
type Source struct {
	Ref      Ref
	Provider string // the provider that answered (the default applied)
	Version  string
	Lease    Lease
	// Fallback is the dotenv file the whole variable was taken from when its
	// provider is not configured here (or --fallback only); "" otherwise.
	Fallback string
	// Value is this reference's value alone (not under a fallback): a
	// redaction target of its own inside the variable's.
	Value Secret
}

// Fallback is the --fallback mode.
type Fallback string

const (
	FallbackAuto Fallback = "auto" // providers not configured here fall back to the dotenv file
	FallbackOff  Fallback = "off"  // never
	FallbackOnly Fallback = "only" // never contact a provider that needs configuration
)

// ParseFallback checks a --fallback value.
func ParseFallback(s string) (Fallback, error) {
	switch f := Fallback(s); f {
	case FallbackAuto, FallbackOff, FallbackOnly:
		return f, nil
	}
	return "", Errorf(ErrConfig, "--fallback %q: want auto, off or only", s)
}

// Lookup finds a plain value by variable name: the dotenv files the
// fallback reads. String names the files, for errors.
type Lookup interface {
	Lookup(name string) (value, file string, ok bool)
	String() string
}

// Resolver resolves variables. Its zero value is not usable: set Providers.
type Resolver struct {
	Providers map[string]Provider
	Default   string // provider of references without one
	Fallback  Fallback
	Dotenv    Lookup
	Parallel  int           // concurrent fetches; <= 0 means 100 (one round for most configs)
	Timeout   time.Duration // per fetch; 0 means none
	Log       *slog.Logger
}

// Resolve returns the variables with their references replaced by values,
// in the order given. Each secret (provider, path, query) is fetched once,
// all of them in parallel. It reports every failure, one line per variable,
// joined.
func (r *Resolver) Resolve(ctx context.Context, vars []Var) ([]Resolved, error) {
	type plan struct {
		v        Var
		tmpl     Template
		fallback bool
		err      error
	}
	plans := make([]plan, len(vars))
	keys := map[Key]*fetch{}
	for i, v := range vars {
		p := &plans[i]
		p.v = v
		p.tmpl, p.err = Parse(v.Value)
		if p.err != nil {
			p.err = fmt.Errorf("%s: %w", v.Name, p.err)
			continue
		}
		for _, ref := range p.tmpl.Refs() {
			prov, err := r.provider(ref)
			if err != nil {
				p.err = fmt.Errorf("%s: %s: %w", v.Name, ref, err)
				break
			}
			if r.fallsBack(prov) {
				p.fallback = true
			}
		}
		if p.err != nil || p.fallback {
			continue
		}
		for _, ref := range p.tmpl.Refs() {
			k := r.effective(ref).Key()
			if keys[k] == nil {
				keys[k] = &fetch{ref: r.effective(ref)}
			}
		}
	}
	r.fetchAll(ctx, keys)

	out := make([]Resolved, 0, len(vars))
	var errs []error
	for _, p := range plans {
		if p.err != nil {
			errs = append(errs, p.err)
			continue
		}
		var res Resolved
		var err error
		if p.fallback {
			res, err = r.fromFallback(p.v, p.tmpl)
		} else {
			res, err = assemble(p.v.Name, p.tmpl, r.effective, keys)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// fetch is one secret to get, and what came of it.
type fetch struct {
	ref    Ref // field dropped: the key's first reference
	secret Secret
	err    error
	// The value decoded as JSON, for #field: once per secret.
	decoded   any
	decodeErr error
	didDecode bool
}

// field extracts one #field, decoding the secret the first time.
func (f *fetch) field(name string) (Secret, error) {
	if !f.didDecode {
		f.decoded, f.decodeErr = f.secret.decode()
		f.didDecode = true
	}
	if f.decodeErr != nil {
		return Secret{}, notJSON(name)
	}
	return f.secret.fieldOf(f.decoded, name)
}

func (r *Resolver) fetchAll(ctx context.Context, keys map[Key]*fetch) {
	n := cmp.Or(r.Parallel, 100)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, f := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx := ctx
			if r.Timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, r.Timeout)
				defer cancel()
			}
			ref := f.ref
			ref.Field = ""
			f.secret, f.err = r.Providers[ref.Provider].Fetch(ctx, ref)
		})
	}
	wg.Wait()
}

// assemble builds a variable's value from its template and fetched secrets.
func assemble(name string, t Template, effective func(Ref) Ref, keys map[Key]*fetch) (Resolved, error) {
	res := Resolved{Name: name}
	var b strings.Builder
	for _, part := range t {
		if part.Ref == nil {
			b.WriteString(part.Literal)
			continue
		}
		ref := effective(*part.Ref)
		f := keys[ref.Key()]
		if f.err != nil {
			return Resolved{}, fmt.Errorf("%s: %s: %s: %w", name, part.Ref, ref.Provider, f.err)
		}
		var s Secret
		var err error
		if ref.Field != "" {
			s, err = f.field(ref.Field)
		} else {
			s, err = f.secret.Whole()
		}
		if err == nil {
			err = checkNUL(s.Reveal())
		}
		if err != nil {
			return Resolved{}, fmt.Errorf("%s: %s: %s: %w", name, part.Ref, ref.Provider, err)
		}
		b.WriteString(s.Reveal())
		res.Sources = append(res.Sources, Source{Ref: *part.Ref, Provider: ref.Provider, Version: f.secret.Version, Lease: f.secret.Lease, Value: s})
	}
	res.Value = NewSecret(b.String(), "")
	return res, nil
}

// fromFallback takes the whole variable from the dotenv files.
func (r *Resolver) fromFallback(v Var, t Template) (Resolved, error) {
	refs := t.Refs()
	why := "offline (--fallback only)"
	if r.Fallback == FallbackAuto {
		var names []string
		for _, ref := range refs {
			if p := r.effective(ref).Provider; r.fallsBack(r.Providers[p]) && !slices.Contains(names, p) {
				names = append(names, p)
			}
		}
		why = strings.Join(names, ", ") + " not configured here"
	}
	var val, file string
	var ok bool
	if r.Dotenv != nil {
		val, file, ok = r.Dotenv.Lookup(v.Name)
	}
	if !ok {
		files := "no dotenv file"
		if r.Dotenv != nil {
			files = r.Dotenv.String()
		}
		return Resolved{}, fmt.Errorf("%s: %s: %w: %s, and %s has no plain value for %s", v.Name, refs[0], ErrNotFound, why, files, v.Name)
	}
	if err := checkNUL(val); err != nil {
		return Resolved{}, fmt.Errorf("%s: %s: %w", v.Name, file, err)
	}
	if r.Log != nil {
		r.Log.Info("value from dotenv fallback", "variable", v.Name, "reason", why, "file", file)
	}
	res := Resolved{Name: v.Name, Value: NewSecret(val, "")}
	for _, ref := range refs {
		res.Sources = append(res.Sources, Source{Ref: ref, Provider: r.effective(ref).Provider, Fallback: file})
	}
	return res, nil
}

// checkNUL refuses a value the environment cannot carry: a C string ends at
// its first NUL byte, and exec refuses the whole environment.
func checkNUL(v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: the value holds a NUL byte, which an environment variable or argument cannot", ErrMalformed)
	}
	return nil
}

// effective applies the default provider.
func (r *Resolver) effective(ref Ref) Ref {
	if ref.Provider == "" {
		ref.Provider = r.Default
	}
	return ref
}

func (r *Resolver) provider(ref Ref) (Provider, error) {
	name := r.effective(ref).Provider
	if p, ok := r.Providers[name]; ok {
		return p, nil
	}
	known := make([]string, 0, len(r.Providers))
	for k := range r.Providers {
		known = append(known, k)
	}
	slices.Sort(known)
	return nil, Errorf(ErrConfig, "unknown provider %q (known: %s)", name, strings.Join(known, ", "))
}

// fallsBack reports whether references to p take their value from the dotenv
// fallback. Providers that need no configuration (env, dotenv, file) never do.
func (r *Resolver) fallsBack(p Provider) bool {
	c, ok := p.(Configurer)
	if !ok {
		return false
	}
	switch r.Fallback {
	case FallbackOnly:
		return true
	case FallbackAuto:
		return !c.Configured()
	}
	return false
}
