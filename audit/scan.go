package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
)

// MaxDepth bounds how deep a directory is searched for .env files and
// project configs: a home directory holds whole trees of other people's
// code.
const MaxDepth = 6

// MaxConfig is the largest client config scan and wrap read: a config
// holds more than servers (Claude Code's ~/.claude.json keeps every
// project's history, several MB and sometimes tens), and scanning one
// takes about 5 times its size in memory. A .env file may be
// dotenv.MaxFile.
const MaxConfig = 64 << 20

// The reasons a file is skipped.
const (
	NotRegular = "not a regular file"
	OutOfTree  = "symlink out of the scanned tree"
	// A settings.json or config.toml that is some other program's.
	NoServers  = "holds no MCP servers"
	NotAConfig = "does not parse, so is no MCP client config"
)

// Scanner scans the known config locations, files and directory trees.
type Scanner struct {
	Detector *rules.Detector
	// Getenv reads the user's environment: HOME, XDG_CONFIG_HOME, APPDATA,
	// USERPROFILE, CODEX_HOME.
	Getenv func(string) string
	GOOS   string
	Dir    string // the working directory: relative paths, and the tree scanned by default
}

// Report is what a scan found.
type Report struct {
	Findings []Finding
	// Errors are files that could not be read or parsed; the scan went on
	// with the others.
	Errors []error
	// Skipped are files by a name scan reads that it did not scan:
	// devices, FIFOs, sockets, symlinks that lead out of a scanned tree,
	// and settings.json or config.toml files of other programs.
	Skipped []Skipped
	// Notes say what could not be checked, such as git being absent.
	Notes []string
	Files int // files scanned
}

// Skipped is a file not read, and why.
type Skipped struct {
	File   string // as the user sees it
	Reason string // NotRegular, OutOfTree, NoServers or NotAConfig
}

// target is one file to scan.
type target struct {
	path    string // absolute, symlinks resolved for files found in a tree
	display string // as the user sees it in the report
	dotenv  bool
	shared  bool // a config name other programs use too: see shared
}

// limit is the largest the file may be.
func (t target) limit() int64 {
	if t.dotenv {
		return dotenv.MaxFile
	}
	return MaxConfig
}

// read reads the file, a regular file within its limit; the error names it
// as the user sees it.
func (t target) read() ([]byte, error) {
	data, err := file.Read(t.path, t.limit())
	var refused *file.Error
	if errors.As(err, &refused) {
		return nil, fmt.Errorf("%s: %w", t.display, refused.Err)
	}
	return data, err
}

// Scan scans paths (files and directories), or with none every client
// config of Locations that exists and the working directory's tree.
func (s *Scanner) Scan(ctx context.Context, paths []string) Report {
	var r Report
	targets := s.targets(paths, &r)
	git := &gitChecker{}
	for _, t := range targets {
		if ctx.Err() != nil {
			r.Errors = append(r.Errors, ctx.Err())
			break
		}
		var fs []Finding
		var skip string
		var err error
		if t.dotenv {
			fs, err = s.scanDotenv(ctx, git, t)
		} else {
			fs, skip, err = s.scanConfig(t)
		}
		if skip != "" {
			r.Skipped = append(r.Skipped, Skipped{t.display, skip})
			continue
		}
		r.Files++
		if err != nil {
			r.Errors = append(r.Errors, err)
		}
		r.Findings = append(r.Findings, fs...)
	}
	if git.missing {
		r.Notes = append(r.Notes, "git is not installed: .env files were not checked against git (tracked, ignored)")
	}
	sortFindings(r.Findings)
	return r
}

// targets lists the files to scan, each once however it is reached (a
// client's home location, a tree, a symlink). Files named are read through
// symlinks, the user's choice; files found in a tree only through
// symlinks that stay in it.
func (s *Scanner) targets(paths []string, r *Report) []target {
	var out []target
	seen := map[string]bool{}
	add := func(t target) {
		real, err := filepath.EvalSymlinks(t.path)
		if err != nil {
			real = t.path
		}
		if !seen[real] {
			seen[real] = true
			out = append(out, t)
		}
	}
	skip := func(display, reason string) { r.Skipped = append(r.Skipped, Skipped{display, reason}) }
	if len(paths) == 0 {
		for _, l := range Locations() {
			if l.Base == Project || l.GOOS != "" && l.GOOS != s.GOOS {
				continue
			}
			p := l.File(s.Getenv, s.GOOS)
			if p == "" {
				continue
			}
			switch fi, err := os.Stat(p); {
			case err != nil: // no such client here
			case fi.Mode().IsRegular():
				add(target{path: p, display: p})
			default:
				skip(p, NotRegular)
			}
		}
		paths = []string{"."}
	}
	for _, p := range paths {
		abs := p
		if !filepath.IsAbs(p) {
			abs = filepath.Join(s.Dir, p)
		}
		abs = filepath.Clean(abs)
		fi, err := os.Stat(abs)
		switch {
		case err != nil:
			r.Errors = append(r.Errors, err)
		case fi.IsDir():
			if err := walk(abs, filepath.Clean(p), add, skip); err != nil {
				r.Errors = append(r.Errors, err)
			}
		case fi.Mode().IsRegular():
			dotenv := isDotenv(filepath.Base(abs))
			add(target{path: abs, display: p, dotenv: dotenv, shared: !dotenv && shared(abs)})
		default:
			skip(p, NotRegular)
		}
	}
	return out
}

// walk adds the .env files and the files by a client config's name of a
// tree, down to MaxDepth, skipping node_modules and .git. A symlink is followed to a
// regular file in the tree only: a repository is not to make scan read
// a device or a file of the user's elsewhere.
func walk(root, display string, add func(target), skip func(display, reason string)) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil // an unreadable corner of the tree
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if path != root && (d.Name() == "node_modules" || d.Name() == ".git" || strings.Count(rel, string(filepath.Separator)) >= MaxDepth) {
				return filepath.SkipDir
			}
			return nil
		}
		dotenv := isDotenv(d.Name())
		if !dotenv && !isConfigName(d.Name()) {
			return nil
		}
		t := target{path: path, display: filepath.Join(display, rel), dotenv: dotenv, shared: !dotenv && shared(path)}
		switch {
		case d.Type().IsRegular():
		case d.Type()&fs.ModeSymlink == 0:
			skip(t.display, NotRegular)
			return nil
		default:
			real, err := filepath.EvalSymlinks(path)
			if err != nil {
				skip(t.display, NotRegular) // a symlink to nothing
				return nil
			}
			if in, err := filepath.Rel(realRoot, real); err != nil || in == ".." || strings.HasPrefix(in, ".."+string(filepath.Separator)) {
				skip(t.display, OutOfTree)
				return nil
			}
			if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
				skip(t.display, NotRegular)
				return nil
			}
			t.path = real
		}
		add(t)
		return nil
	})
}

// scanConfig scans a client config; a shared name's file that is not one
// is skipped, with the reason.
func (s *Scanner) scanConfig(t target) (_ []Finding, skip string, _ error) {
	data, err := t.read()
	if err != nil {
		return nil, "", err
	}
	f, err := mcpconfig.Parse(t.path, data)
	var syntax *mcpconfig.SyntaxError
	switch {
	case t.shared && errors.As(err, &syntax):
		return nil, NotAConfig, nil
	case err != nil:
		return nil, "", fmt.Errorf("%s: %w", t.display, err)
	case t.shared && !f.Lists:
		return nil, NoServers, nil
	}
	var out []Finding
	for _, h := range Hits(s.Detector, f) {
		if fi := h.Finding(t.display); !allowed(data, fi.Line) {
			out = append(out, fi)
		}
	}
	return out, "", nil
}

// AllowMarker on a line (in a comment: `# mcp-secrets:allow` in a .env or
// TOML, `// mcp-secrets:allow` in JSONC) says its value is a deliberate
// fake, such as a demo's: scan does not report it, as gitleaks:allow.
const AllowMarker = "mcp-secrets:allow"

// allowed reports whether line (1-based) of data carries AllowMarker.
func allowed(data []byte, line int) bool {
	for i := 1; len(data) > 0; i++ {
		l, rest, _ := bytes.Cut(data, []byte{'\n'})
		if i == line {
			return bytes.Contains(l, []byte(AllowMarker))
		}
		data = rest
	}
	return false
}
