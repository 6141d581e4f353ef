package webhook

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Install copies the running binary into dir as mcp-secrets, executable by
// every user: the init container of inject: exec runs it, because the
// static image has no shell and no cp. The copy is renamed into place, so
// a container restarted halfway never sees half a binary.
func Install(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".mcp-secrets-*")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is left to remove
	_, err = io.Copy(tmp, src)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, "mcp-secrets"))
	}
	if err != nil {
		return fmt.Errorf("install into %s: %w", dir, err)
	}
	return nil
}
