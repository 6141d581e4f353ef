package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A value marked mcp-secrets:allow (a demo's deliberate fake) is not a
// finding; the same value unmarked, the control, is.
func TestAllowMarker(t *testing.T) {
	const token = "ghp_0123456789abcdefghijABCDEFGHIJ012345"
	for _, tt := range []struct {
		name, file, content string
		want                int
	}{
		{"dotenv marked", ".env", "GITHUB_TOKEN=" + token + " # mcp-secrets:allow\n", 0},
		{"dotenv unmarked", ".env", "GITHUB_TOKEN=" + token + "\n", 1},
		{"JSONC marked", ".mcp.json", "{\"mcpServers\": {\"gh\": {\"command\": \"x\", \"env\": {\n  \"GITHUB_TOKEN\": \"" + token + "\" // mcp-secrets:allow\n}}}}\n", 0},
		{"JSONC unmarked", ".mcp.json", "{\"mcpServers\": {\"gh\": {\"command\": \"x\", \"env\": {\n  \"GITHUB_TOKEN\": \"" + token + "\"\n}}}}\n", 1},
		{"marker on another line", ".env", "# mcp-secrets:allow\nGITHUB_TOKEN=" + token + "\n", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tt.file)
			// Readable by others, so a .env with a secret is exposed.
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, 0o644)
			r := newScanner(t, t.TempDir(), dir).Scan(context.Background(), []string{path})
			if len(r.Errors) > 0 {
				t.Fatal(r.Errors)
			}
			secrets := 0
			for _, f := range r.Findings {
				if f.Masked != "" {
					secrets++
				}
			}
			if secrets != tt.want {
				t.Errorf("%d secret findings, want %d: %+v", secrets, tt.want, r.Findings)
			}
		})
	}
}
