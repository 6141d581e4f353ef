//go:build unix

package dotenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Devices and FIFOs (unix only: Windows has neither /dev/zero nor mkfifo),
// given as a dotenv file or behind its name, are refused at once, with next
// to no memory, and never waited on.
func TestFilesDevicesAndFIFOs(t *testing.T) {
	for _, path := range testenv.NotRegular(t, t.TempDir(), ".env", "fifo.env") {
		f, _ := NewFiles(path)
		start := time.Now()
		var errVars, errFetch, errRead, errPut error
		n := testenv.Allocated(func() {
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
