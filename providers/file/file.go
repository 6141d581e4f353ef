// Package file answers $<file:/path>: the content of a file, such as a
// Docker or Kubernetes secret mount or a Secrets Store CSI volume.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Provider reads files. Relative paths are taken from the launcher's working
// directory.
type Provider struct{}

var _ providers.FileSource = Provider{}

// Fetch returns the file's content without one trailing newline, which
// `echo` and editors add and no secret means. The file must be a regular
// file (a symlink to one, as Kubernetes mounts are, is followed) of at most
// MaxSize bytes.
func (Provider) Fetch(_ context.Context, ref providers.Ref) (providers.Secret, error) {
	if ref.Version != "" || ref.Stage != "" {
		return providers.Secret{}, providers.Errorf(providers.ErrConfig, "files have no versions")
	}
	b, err := Read(ref.Path, MaxSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return providers.Secret{}, fmt.Errorf("%w: %s does not exist", providers.ErrNotFound, ref.Path)
	case errors.Is(err, fs.ErrPermission):
		return providers.Secret{}, fmt.Errorf("%w: %s is not readable", providers.ErrDenied, ref.Path)
	case err != nil:
		return providers.Secret{}, providers.Errorf(providers.ErrConfig, "%w", err)
	}
	v := string(b)
	if t, ok := strings.CutSuffix(v, "\r\n"); ok {
		v = t
	} else {
		v = strings.TrimSuffix(v, "\n")
	}
	return providers.NewSecret(v, ""), nil
}

// Files are the paths a reference reads, absolute, for the watcher.
func (Provider) Files(k providers.Key) []string {
	abs, err := filepath.Abs(k.Path)
	if err != nil {
		return nil
	}
	return []string{abs}
}
