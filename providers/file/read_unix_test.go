//go:build unix

package file_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
)

// Devices and FIFOs (unix only: Windows has neither /dev/zero nor mkfifo)
// are refused at once: no read of an endless device, no wait for a
// writer, and next to no memory.
func TestFetchDevicesAndFIFOs(t *testing.T) {
	for _, path := range testenv.NotRegular(t, t.TempDir(), "secret", "fifo") {
		t.Run(path, func(t *testing.T) {
			var err error
			start := time.Now()
			n := testenv.Allocated(func() {
				_, err = file.Provider{}.Fetch(context.Background(), providers.Ref{Provider: "file", Path: path})
			})
			if !errors.Is(err, providers.ErrConfig) || !strings.HasSuffix(err.Error(), path+": not a regular file") {
				t.Errorf("Fetch(%s) = %v", path, err)
			}
			if n > 64<<10 || time.Since(start) > time.Second {
				t.Errorf("Fetch(%s) allocated %d bytes in %s", path, n, time.Since(start))
			}
		})
	}
}

// Even a device that got past the checks (ReadAll given one directly) is
// read no further than the limit.
func TestReadAllOfADevice(t *testing.T) {
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	n := testenv.Allocated(func() { b, err = file.ReadAll(f, fi, 1<<20) })
	if !errors.Is(err, file.ErrTooLarge) || b != nil {
		t.Fatalf("ReadAll(/dev/zero) = %d bytes, %v", len(b), err)
	}
	if n > 8<<20 { // the buffer's doublings up to the limit, not the device's endless bytes
		t.Errorf("ReadAll(/dev/zero) allocated %d bytes for a 1 MiB limit", n)
	}
}
