package audit

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
	"github.com/mcp-secrets/mcp-secrets/audit/rules"
)

// MaxDepth bounds how deep a directory is searched for .env files and
// project configs: a home directory holds whole trees of other people's
// code.
const MaxDepth = 6

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
	// Notes say what could not be checked, such as git being absent.
	Notes []string
	Files int // files scanned
}

// target is one file to scan.
type target struct {
	path    string // absolute
	display string // as the user sees it in the report
	dotenv  bool
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
		r.Files++
		var fs []Finding
		var err error
		if t.dotenv {
			fs, err = s.scanDotenv(ctx, git, t)
		} else {
			fs, err = s.scanConfig(t)
		}
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

// targets lists the files to scan, each once.
func (s *Scanner) targets(paths []string, r *Report) []target {
	var out []target
	seen := map[string]bool{}
	add := func(t target) {
		if !seen[t.path] {
			seen[t.path] = true
			out = append(out, t)
		}
	}
	if len(paths) == 0 {
		for _, l := range Locations() {
			if l.Base == Project || l.GOOS != "" && l.GOOS != s.GOOS {
				continue
			}
			dir := l.Base.dir(s.Getenv, s.GOOS)
			if dir == "" {
				continue
			}
			p := filepath.Join(dir, filepath.FromSlash(l.Path))
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				add(target{path: p, display: p})
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
			if err := walk(abs, filepath.Clean(p), add); err != nil {
				r.Errors = append(r.Errors, err)
			}
		default:
			add(target{path: abs, display: p, dotenv: isDotenv(filepath.Base(abs))})
		}
	}
	return out
}

// walk adds the .env files and project configs of a tree, down to
// MaxDepth, skipping node_modules and .git.
func walk(root, display string, add func(target)) error {
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
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if dotenv := isDotenv(d.Name()); dotenv || projectConfig(path) {
			add(target{path: path, display: filepath.Join(display, rel), dotenv: dotenv})
		}
		return nil
	})
}

func (s *Scanner) scanConfig(t target) ([]Finding, error) {
	data, err := os.ReadFile(t.path)
	if err != nil {
		return nil, err
	}
	f, err := mcpconfig.Parse(t.path, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.display, err)
	}
	var out []Finding
	for _, h := range Hits(s.Detector, f) {
		out = append(out, h.Finding(t.display))
	}
	return out, nil
}
