package audit

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/audit/auditest"
)

// The detection corpus: every client's config with real-looking secrets
// planted where people paste them, and decoys beside them. scan finds
// every planted secret, once, at its place, and nothing else (but the
// exposed .env files' own findings). gitleaks v8.30.1 on the same corpus
// finds 26 of the 31 planted secrets.
func TestCorpus(t *testing.T) {
	dir := t.TempDir()
	if err := auditest.WriteCorpus(dir); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	r := newScanner(t, home, dir).Scan(context.Background(), nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %v", r.Errors)
	}
	secrets := auditest.Secrets()
	planted := map[string]string{} // file and location → the secret's name
	for _, f := range auditest.Corpus() {
		for name, loc := range f.Planted {
			planted[f.Path+" "+loc] = name
		}
	}
	found := map[string]bool{}
	var falsePositives []string
	for _, f := range r.Findings {
		if f.Masked == "" {
			continue // an exposed .env file's own finding
		}
		file, _ := filepath.Rel(dir, filepath.Join(dir, f.File))
		if strings.HasPrefix(f.File, home) {
			file, _ = filepath.Rel(dir, f.File)
		}
		key := filepath.ToSlash(file) + " " + f.Location
		name, ok := planted[key]
		switch {
		case !ok:
			falsePositives = append(falsePositives, key+" "+f.Rule+" "+f.Masked)
		case found[key]:
			t.Errorf("%s found twice", key)
		case f.Masked != Mask(secrets[name]):
			t.Errorf("%s: found %s, the planted %s is %s", key, f.Masked, name, Mask(secrets[name]))
		default:
			found[key] = true
		}
	}
	var missed []string
	for key, name := range planted {
		if !found[key] {
			missed = append(missed, key+" ("+name+")")
		}
	}
	t.Logf("%d planted, %d found, %d false positives", len(planted), len(found), len(falsePositives))
	if len(missed) > 0 {
		t.Errorf("missed:\n%s", strings.Join(missed, "\n"))
	}
	if len(falsePositives) > 0 {
		t.Errorf("false positives:\n%s", strings.Join(falsePositives, "\n"))
	}
	// The control: the corpus plants secrets of each kind scan knows.
	if len(planted) < 30 {
		t.Errorf("%d planted secrets, want at least 30", len(planted))
	}
}
