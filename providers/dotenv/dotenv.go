// Package dotenv reads .env files: the variables of --env-file, the values of
// $<dotenv:NAME> references, and the fallback of references whose provider is
// not configured on this machine.
package dotenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/joho/godotenv"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
)

// MaxFile is the largest dotenv file read: far more than any set of
// variables needs, and a bound on what a wrong path can cost.
const MaxFile = 1 << 20

// Parse reads dotenv syntax (quotes, export, comments, multi-line values).
// Every line must be blank, a comment or an assignment: godotenv alone
// would take "A B=1" for a variable named "A B" and "NAME: value" as YAML.
// Errors give the line where the bad entry starts and never repeat the
// file's content: godotenv's own messages quote it.
func Parse(data []byte) (map[string]string, error) {
	vars, _, err := ParseLines(data)
	return vars, err
}

// ParseLines is Parse, with the line of each variable's assignment in
// effect (the last).
func ParseLines(data []byte) (vars map[string]string, lines map[string]int, err error) {
	text := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")) // a copy, which check may change
	lines, err = check(text)
	if err != nil {
		return nil, nil, err
	}
	vars, err = godotenv.UnmarshalBytes(text)
	if err != nil {
		// check accepts only what godotenv parses (FuzzParse holds it to
		// that), so this is a bug; its message quotes the input.
		return nil, nil, fmt.Errorf("%w: %s", providers.ErrMalformed, unparsed)
	}
	return vars, lines, nil
}

// unparsed is the reason for input check accepts and godotenv does not.
const unparsed = "not dotenv syntax"

// The reasons check gives.
const (
	notAssignment = "not an assignment (want NAME=VALUE)"
	badName       = `a variable name holds a character other than letters, digits, "_" and "."`
	unterminated  = "unterminated quoted value"
	afterQuote    = "text after the closing quote"
	loneCR        = "a carriage return inside a line"
	nul           = "a NUL byte, which no environment variable can hold"
)

// check walks data statement by statement as godotenv does (same spaces,
// comments, export prefix and quote rules), and requires each statement to
// be "[export] NAME=VALUE" on lines of its own. It returns the line of the
// last assignment of each name. data has LF line ends, as godotenv makes.
//
// check blanks the comments between statements in data: godotenv skips a
// run of comment lines by recursion, and a megabyte of them took 64 MB of
// stack.
func check(data []byte) (map[string]int, error) {
	fail := func(off int, why string) (map[string]int, error) {
		line := bytes.Count(data[:off], []byte("\n")) + 1
		return nil, fmt.Errorf("line %d: %w: %s", line, providers.ErrMalformed, why)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return fail(i, nul)
	}
	lines := map[string]int{}
	at := 0               // offset of what is left
	line, counted := 1, 0 // the line of offset counted
	for {
		// Blank space and comment lines, as godotenv's getStatementStart.
		i := bytes.IndexFunc(data[at:], func(r rune) bool { return !unicode.IsSpace(r) })
		if i < 0 {
			return lines, nil
		}
		at += i
		if data[at] == '#' {
			at += blank(data[at:])
			continue
		}
		start := at
		if rest, ok := bytes.CutPrefix(data[at:], []byte("export")); ok && len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			at += len(data[at:]) - len(bytes.TrimLeft(rest, " \t"))
		}
		from := at
		for at < len(data) && nameByte(data[at]) {
			at++
		}
		name, end := data[from:at], at
		for at < len(data) && (data[at] == ' ' || data[at] == '\t') {
			at++
		}
		if len(name) == 0 || at == len(data) || data[at] != '=' {
			rest, _, _ := bytes.Cut(data[end:], []byte("\n"))
			if bytes.IndexByte(rest, '=') >= 0 {
				return fail(start, badName)
			}
			return fail(start, notAssignment)
		}
		at++
		// The value ends where godotenv's extractVarValue ends it.
		at = len(data) - len(bytes.TrimLeftFunc(data[at:], isSpace))
		quoted := at < len(data) && (data[at] == '"' || data[at] == '\'')
		if quoted {
			q, closing := data[at], -1
			for j := at + 1; j < len(data); j++ {
				if data[j] == q && data[j-1] != '\\' {
					closing = j
					break
				}
			}
			if closing < 0 {
				return fail(start, unterminated)
			}
			at = closing + 1
		} else if eol := bytes.IndexAny(data[at:], "\n\r"); eol >= 0 {
			at += eol // a comment after an unquoted value is cut from it by godotenv
		} else {
			at = len(data)
		}
		// Nothing but blanks and a comment may follow on the line: after
		// a quote, or after a lone CR, which ends an unquoted value,
		// godotenv would read on as if a new line began.
		for at < len(data) && (data[at] == ' ' || data[at] == '\t' || data[at] == '\r') {
			at++
		}
		switch {
		case at == len(data) || data[at] == '\n':
		case data[at] == '#':
			at += blank(data[at:])
		case quoted:
			return fail(start, afterQuote)
		default:
			return fail(start, loneCR)
		}
		line += bytes.Count(data[counted:start], []byte("\n"))
		lines[string(name)], counted = line, start
	}
}

// blank turns a comment, up to the end of its line, into spaces, and
// returns its length.
func blank(comment []byte) int {
	n := bytes.IndexByte(comment, '\n')
	if n < 0 {
		n = len(comment)
	}
	for i := range n {
		comment[i] = ' '
	}
	return n
}

// nameByte reports whether c may be in a variable's name: godotenv's set
// ([A-Za-z0-9_.]), ASCII only.
func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.'
}

// isSpace is godotenv's: a blank that does not end a line.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}

// ReadFile parses one dotenv file: a regular file of at most MaxFile
// bytes. Its errors name the file: not a regular file is a configuration
// error, a file too large or malformed a malformed one.
func ReadFile(path string) (map[string]string, error) {
	data, err := file.Read(path, MaxFile)
	if err != nil {
		return nil, readError(err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// readError gives an error of reading a file its kind: a file too large
// is malformed, one that cannot be read a configuration error (or denied);
// a missing file stays fs.ErrNotExist alone, for the callers to whom it is
// no error.
func readError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return err
	case errors.Is(err, file.ErrTooLarge):
		return providers.Errorf(providers.ErrMalformed, "%w", err)
	case errors.Is(err, fs.ErrPermission):
		return providers.Errorf(providers.ErrDenied, "%w", err)
	}
	return providers.Errorf(providers.ErrConfig, "%w", err)
}

// Files is an ordered set of dotenv files; a later file overrides an earlier
// one. It is the dotenv provider and the resolver's fallback. Files are read
// again when they change on disk, so an edit is seen by the next resolution.
type Files struct {
	paths []string // a file may be missing: ./.env is the default whether or not it exists
	mu    sync.Mutex
	cache map[string]cached
}

var (
	_ providers.Lookup = (*Files)(nil)
	_ providers.Writer = (*Files)(nil)
)

// cached is what one version of a file on disk holds.
type cached struct {
	fi   fs.FileInfo
	vars map[string]string
	err  error
}

// current reports whether fi, of the open file, is the version cached:
// the same file (os.SameFile: device and inode; on Windows the volume and
// file index, which Stat of an open file reads through
// GetFileInformationByHandle), size and modification time.
func (c cached) current(fi fs.FileInfo) bool {
	return os.SameFile(c.fi, fi) && c.fi.Size() == fi.Size() && c.fi.ModTime().Equal(fi.ModTime())
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
// The version is told from the file it opened, so what is cached is what
// that version holds.
func (f *Files) read(path string) (map[string]string, error) {
	fh, fi, err := file.Open(path, MaxFile)
	if err != nil {
		return nil, readError(err)
	}
	defer fh.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.cache[path]; ok && c.current(fi) {
		return c.vars, c.err
	}
	var vars map[string]string
	data, err := file.ReadAll(fh, fi, MaxFile)
	if err != nil {
		err = readError(err)
	} else if vars, err = Parse(data); err != nil {
		err = fmt.Errorf("%s: %w", path, err)
	}
	f.cache[path] = cached{fi, vars, err}
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
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, p)
			continue
		}
		if err != nil {
			return providers.Secret{}, err
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
