//go:build unix

package dotenv

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Devices and FIFOs (unix only: Windows has neither /dev/zero nor mkfifo),
// given as a dotenv file or behind its name, are refused at once, with next
// to no memory, and never waited on.
func TestFilesDevicesAndFIFOs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.env")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, ".env")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", link, fifo} {
		f, _ := NewFiles(path)
		start := time.Now()
		var errVars, errFetch, errRead, errPut error
		n := allocated(func() {
			_, errVars = f.Vars()
			_, errFetch = f.Fetch(context.Background(), providers.Ref{Path: "A"})
			_, errRead = ReadFile(path)
			errPut = f.Put(context.Background(), "x", map[string]string{"A": "value"})
		})
		for _, err := range []error{errVars, errFetch, errRead, errPut} {
			if !errors.Is(err, providers.ErrConfig) || err.Error() != path+": not a regular file" {
				t.Errorf("%s: %v", path, err)
			}
		}
		if n > 256<<10 || time.Since(start) > time.Second {
			t.Errorf("%s: %d bytes allocated in %s", path, n, time.Since(start))
		}
	}
}

// allocated is how many bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The measurement the bound tests rely on does see an unbounded read.
func TestAllocatedSeesALargeRead(t *testing.T) {
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := allocated(func() { _, err = io.ReadAll(io.LimitReader(f, 100<<20)) }); n < 64<<20 || err != nil {
		t.Fatalf("reading 100 MB allocated %d bytes (%v)", n, err)
	}
}
