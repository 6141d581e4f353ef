// Package dotenv reads .env files: the variables of --env-file, the values of
// $<dotenv:NAME> references, and the fallback of references whose provider is
// not configured on this machine.
package dotenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/joho/godotenv"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Parse reads dotenv syntax (quotes, export, comments, multi-line values).
// Errors give the line where the bad entry starts and never repeat the
// file's content: godotenv's own messages quote it.
func Parse(data []byte) (map[string]string, error) {
	m, err := godotenv.UnmarshalBytes(data)
	var why string
	switch {
	case err != nil:
		why = reason(err)
	case hasEmptyName(m):
		why = `a line without "NAME="` // godotenv takes it for an empty name
	default:
		return m, nil
	}
	return nil, fmt.Errorf("line %d: %w: %s", errorLine(data), providers.ErrMalformed, why)
}

func hasEmptyName(m map[string]string) bool {
	_, ok := m[""]
	return ok
}

// errorLine is the line where the first entry that does not parse starts:
// one after the longest prefix of whole lines that parses.
func errorLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	good := 0
	for n := 1; n <= len(lines); n++ {
		if m, err := godotenv.UnmarshalBytes(bytes.Join(lines[:n], nil)); err == nil && !hasEmptyName(m) {
			good = n
		}
	}
	return good + 1
}

// reason keeps the part of godotenv's message that does not quote the input.
func reason(err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "unterminated quoted value"):
		return "unterminated quoted value"
	case strings.HasPrefix(msg, "unexpected character"):
		return "unexpected character in variable name"
	}
	return "not dotenv syntax"
}

// ReadFile parses one dotenv file.
func ReadFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Files is an ordered set of dotenv files; a later file overrides an earlier
// one. It is the dotenv provider and the resolver's fallback. Files are read
// again when they change on disk, so an edit is seen by the next resolution.
type Files struct {
	paths []string // a file may be missing: ./.env is the default whether or not it exists
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	stamp stamp
	vars  map[string]string
	err   error
}

// stamp identifies one version of a file on disk.
type stamp struct {
	ino   uint64
	size  int64
	mtime time.Time
}

// NewFiles returns the set of files at paths, made absolute.
func NewFiles(paths ...string) (*Files, error) {
	abs := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		abs[i] = a
	}
	return &Files{paths: abs, cache: map[string]cached{}}, nil
}

// Paths are the absolute paths of the files, in order.
func (f *Files) Paths() []string { return slices.Clone(f.paths) }

func (f *Files) String() string { return strings.Join(f.paths, ", ") }

// read returns a file's variables, parsing it again only if it changed.
func (f *Files) read(path string) (map[string]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	st := stamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.cache[path]; ok && c.stamp == st {
		return c.vars, c.err
	}
	vars, err := ReadFile(path)
	f.cache[path] = cached{st, vars, err}
	return vars, err
}

// Vars returns every variable the files set, later files overriding earlier.
// Unlike lookups, a missing file is an error: it was asked for by name.
func (f *Files) Vars() (map[string]string, error) {
	all := map[string]string{}
	for _, p := range f.paths {
		vars, err := f.read(p)
		if err != nil {
			return nil, err
		}
		for k, v := range vars {
			all[k] = v
		}
	}
	return all, nil
}

// Lookup finds name in the last file that sets it to a plain value (not a
// reference), for the fallback.
func (f *Files) Lookup(name string) (value, file string, ok bool) {
	for _, p := range slices.Backward(f.paths) {
		vars, err := f.read(p)
		if err != nil {
			continue
		}
		if v, ok := vars[name]; ok && !providers.HasRef(v) {
			return v, p, true
		}
	}
	return "", "", false
}

// Fetch answers $<dotenv:NAME>.
func (f *Files) Fetch(_ context.Context, ref providers.Ref) (providers.Secret, error) {
	if ref.Version != "" || ref.Stage != "" {
		return providers.Secret{}, providers.Errorf(providers.ErrConfig, "dotenv values have no versions")
	}
	var missing []string
	for _, p := range slices.Backward(f.paths) {
		vars, err := f.read(p)
		if os.IsNotExist(err) {
			missing = append(missing, p)
			continue
		}
		if err != nil {
			return providers.Secret{}, providers.Errorf(providers.ErrConfig, "%w", err)
		}
		v, ok := vars[ref.Path]
		if !ok {
			continue
		}
		if providers.HasRef(v) {
			return providers.Secret{}, providers.Errorf(providers.ErrConfig, "%s in %s is itself a reference", ref.Path, p)
		}
		return providers.NewSecret(v, ""), nil
	}
	if len(missing) == len(f.paths) {
		return providers.Secret{}, fmt.Errorf("%w: %s does not exist", providers.ErrNotFound, f)
	}
	return providers.Secret{}, fmt.Errorf("%w: no %s in %s", providers.ErrNotFound, ref.Path, f)
}
