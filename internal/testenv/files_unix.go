//go:build unix

package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// NotRegular returns files no reader may read to its end or wait on:
// /dev/zero, link (in dir) a symlink to it, and fifo (in dir) a FIFO
// without a writer. Unix only: Windows has neither.
func NotRegular(t testing.TB, dir, link, fifo string) []string {
	t.Helper()
	fifo, link = filepath.Join(dir, fifo), filepath.Join(dir, link)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	return []string{"/dev/zero", link, fifo}
}
