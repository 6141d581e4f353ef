//go:build unix

package testenv

import (
	"io"
	"os"
	"testing"
)

// The control of every bound test that measures with Allocated: it does see
// an unbounded read.
func TestAllocatedSeesALargeRead(t *testing.T) {
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := Allocated(func() { _, err = io.ReadAll(io.LimitReader(f, 100<<20)) }); n < 64<<20 || err != nil {
		t.Fatalf("reading 100 MB allocated %d bytes (%v)", n, err)
	}
}

// NotRegular's files are what it says: a device, a symlink to it, a FIFO.
func TestNotRegular(t *testing.T) {
	paths := NotRegular(t, t.TempDir(), "link", "fifo")
	for i, want := range []os.FileMode{os.ModeDevice | os.ModeCharDevice, os.ModeDevice | os.ModeCharDevice, os.ModeNamedPipe} {
		fi, err := os.Stat(paths[i])
		if err != nil || fi.Mode().Type() != want {
			t.Errorf("%s: %v, %v; want type %v", paths[i], fi.Mode().Type(), err, want)
		}
	}
}
