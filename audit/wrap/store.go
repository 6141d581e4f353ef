package wrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Store puts each server's secrets into st, one secret per server (a JSON
// object of its values; a dotenv file's variables named by their keys). A
// secret that already exists keeps its other keys; one that holds a
// different value under a key wrap would write is a conflict, found (through
// fetch) before anything is written. On failure it says which secrets were
// stored before it.
func (p *Plan) Store(ctx context.Context, st providers.Writer, fetch providers.Provider) (stored []string, err error) {
	writes := make([]map[string]string, len(p.Servers))
	for i, s := range p.Servers {
		if p.Target.Provider == "dotenv" {
			writes[i] = s.Values
			continue
		}
		merged, err := p.merge(ctx, fetch, s)
		if err != nil {
			return nil, err
		}
		writes[i] = merged
	}
	for i, s := range p.Servers {
		name := s.Secret
		if p.Target.Provider == "dotenv" {
			name = s.Name
		}
		if err := st.Put(ctx, name, writes[i]); err != nil {
			return stored, fmt.Errorf("storing %s: %w", p.where(s), err)
		}
		stored = append(stored, p.where(s))
	}
	return stored, nil
}

// where names a server's secret as a reference would: aws:PREFIX/SERVER,
// or dotenv:FILE (VAR, ...).
func (p *Plan) where(s *Server) string {
	if p.Target.Provider == "dotenv" {
		return fmt.Sprintf("%s (%s)", p.Target, strings.Join(slices.Sorted(maps.Keys(s.Values)), ", "))
	}
	return p.Target.Provider + ":" + s.Secret
}

// merge is the server's values over what its secret already holds.
func (p *Plan) merge(ctx context.Context, fetch providers.Provider, s *Server) (map[string]string, error) {
	cur, err := fetch.Fetch(ctx, providers.Ref{Provider: p.Target.Provider, Path: s.Secret})
	if errors.Is(err, providers.ErrNotFound) {
		return s.Values, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p.where(s), err)
	}
	var existing map[string]any
	if json.Unmarshal([]byte(cur.Reveal()), &existing) != nil {
		return nil, providers.Errorf(providers.ErrConfig, "%s exists and is not a JSON object: choose another --to prefix", p.where(s))
	}
	merged := map[string]string{}
	for k, v := range existing {
		str, ok := v.(string)
		if !ok {
			return nil, providers.Errorf(providers.ErrConfig, "%s exists and its key %s is not a string: choose another --to prefix", p.where(s), k)
		}
		merged[k] = str
	}
	for k, v := range s.Values {
		if old, ok := merged[k]; ok && old != v {
			return nil, providers.Errorf(providers.ErrConfig, "%s already holds %s with another value: choose another --to prefix", p.where(s), k)
		}
		merged[k] = v
	}
	return merged, nil
}

// Verify resolves every new reference through r, as mcp-secrets check
// would for each server's new environment, and compares it with the value
// it replaced. It returns a line per server.
func (p *Plan) Verify(ctx context.Context, r *providers.Resolver) ([]string, error) {
	var vars []providers.Var
	var want []string
	for _, s := range p.Servers {
		for _, m := range s.Moved {
			vars = append(vars, providers.Var{Name: m.Location, Value: m.Ref.String()})
			want = append(want, m.value)
		}
	}
	resolved, err := r.Resolve(ctx, vars)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i, res := range resolved {
		if res.Value.Reveal() != want[i] {
			errs = append(errs, providers.Errorf(providers.ErrConfig, "%s: %s resolves to another value than the one it replaced", vars[i].Name, vars[i].Value))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var out []string
	i := 0
	for _, s := range p.Servers {
		var refs []string
		for range s.Moved {
			refs = append(refs, fmt.Sprintf("%s %s", vars[i].Value, resolved[i].Value.Masked()))
			i++
		}
		out = append(out, fmt.Sprintf("%s: %s", s.Name, strings.Join(refs, ", ")))
	}
	return out, nil
}

// WriteFile replaces path with data atomically: a temporary file in the
// same directory, with the same mode, renamed over it. No copy of the old
// content is left. A symlink is followed, so the file it points to is
// replaced and the link kept.
func WriteFile(path string, data []byte) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing by that name
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), real)
}
