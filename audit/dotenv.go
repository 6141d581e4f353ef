package audit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/audit/rules"
	"github.com/mcp-secrets/mcp-secrets/providers/dotenv"
)

// The rules of a .env file's own findings.
const (
	DotenvTracked    = "dotenv-tracked"
	DotenvNotIgnored = "dotenv-not-ignored"
	DotenvReadable   = "dotenv-readable"
)

// scanDotenv reports the secrets of a .env file that is exposed: tracked
// by git, covered by no .gitignore, or readable by other users. A private,
// ignored .env is the intended local store and scans clean; so does one
// that holds no secret (only references and settings).
func (s *Scanner) scanDotenv(ctx context.Context, git *gitChecker, t target) ([]Finding, error) {
	data, err := t.read()
	if err != nil {
		return nil, err
	}
	secrets, err := s.dotenvSecrets(t, data)
	if err != nil || len(secrets) == 0 {
		return nil, err
	}
	var exposed []Finding
	expose := func(rule string, sev rules.Severity, msg string) {
		exposed = append(exposed, Finding{File: t.display, Line: 1, Location: t.display, Rule: rule, Severity: sev, Message: msg})
	}
	if fi, err := os.Stat(t.path); err == nil && s.GOOS != "windows" && fi.Mode().Perm()&0o004 != 0 {
		expose(DotenvReadable, rules.Medium, fmt.Sprintf("readable by every user of the machine (mode %04o): chmod 600 it", fi.Mode().Perm()))
	}
	tracked, ignored, inRepo, err := git.state(ctx, t.path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", t.display, err)
	case tracked:
		expose(DotenvTracked, rules.High, "tracked by git: its secrets are in the repository and its history; rotate them, untrack the file (git rm --cached) and ignore it")
	case inRepo && !ignored:
		expose(DotenvNotIgnored, rules.Medium, "not covered by any .gitignore: the next `git add .` commits its secrets; add it to .gitignore")
	}
	if len(exposed) == 0 {
		return nil, nil
	}
	return append(exposed, secrets...), nil
}

// dotenvSecrets are the secrets in a .env file's variables, each at the
// line of the assignment in effect.
func (s *Scanner) dotenvSecrets(t target, data []byte) ([]Finding, error) {
	vars, lines, err := dotenv.ParseLines(data) // its errors give a line, never content
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.display, err)
	}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(lines[a], lines[b]), cmp.Compare(a, b)) })
	var secrets []Finding
	for _, name := range names {
		v := vars[name]
		if allowed(data, lines[name]) {
			continue
		}
		for _, m := range s.Detector.Find(t.path, name, v) {
			line := lines[name]
			secrets = append(secrets, Finding{
				File:     t.display,
				Line:     line,
				Location: name,
				Rule:     m.Rule,
				Severity: m.Severity,
				Masked:   Mask(v[m.Start:m.End]),
				Message:  m.Description,
			})
		}
	}
	return secrets, nil
}

// gitChecker asks git about files: tracked (git ls-files), ignored (git
// check-ignore). Git itself decides, with every .gitignore, the global
// excludes file and .git/info/exclude.
type gitChecker struct {
	missing bool // git is not installed: nothing can be said
}

func (g *gitChecker) state(ctx context.Context, path string) (tracked, ignored, inRepo bool, err error) {
	if g.missing {
		return false, false, false, nil
	}
	dir, base := filepath.Split(path)
	switch a, err := g.run(ctx, dir, "ls-files", "--error-unmatch", "--", base); {
	case errors.Is(err, exec.ErrNotFound):
		g.missing = true
		return false, false, false, nil
	case err != nil:
		return false, false, false, err
	case a == notRepo:
		return false, false, false, nil
	case a == yes:
		return true, false, true, nil
	}
	a, err := g.run(ctx, dir, "check-ignore", "-q", "--", base)
	if err != nil {
		return false, false, false, err
	}
	return false, a == yes, true, nil
}

// answer is what a git query said.
type answer int

const (
	yes     answer = iota // exit 0
	no                    // exit 1
	notRepo               // the directory is in no repository
)

// run runs a git query in dir.
func (g *gitChecker) run(ctx context.Context, dir string, args ...string) (answer, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_OPTIONAL_LOCKS=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return yes, nil
	case !errors.As(err, &exit):
		return 0, err
	case strings.Contains(stderr.String(), "not a git repository"):
		return notRepo, nil
	case exit.ExitCode() == 1:
		return no, nil
	}
	line, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
	return 0, fmt.Errorf("git %s: %s", args[0], line)
}
