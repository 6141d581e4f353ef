//go:build unix

package sidecar

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// A device or a FIFO as --config (unix only: Windows has neither
// /dev/zero nor mkfifo) is refused at once, in next to no memory.
func TestLoadConfigDevicesAndFIFOs(t *testing.T) {
	dir := t.TempDir()
	load := func(path string) (allocated uint64, took time.Duration, err error) {
		start := time.Now()
		allocated = testenv.Allocated(func() { _, err = LoadConfig(path) })
		return allocated, time.Since(start), err
	}
	for _, path := range testenv.NotRegular(t, dir, "link.json", "mcp.json") {
		n, took, err := load(path)
		if !errors.Is(err, providers.ErrConfig) || err.Error() != "--config: "+path+": not a regular file" {
			t.Errorf("LoadConfig(%s) = %v", path, err)
		}
		if n > 64<<10 || took > time.Second {
			t.Errorf("LoadConfig(%s) allocated %d bytes in %s", path, n, took)
		}
	}
	// The control: the measure sees a config of MaxConfig bytes read.
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(`{"mcpServers": {}}`+strings.Repeat(" ", MaxConfig-18)), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := load(big); n < MaxConfig {
		t.Errorf("control: LoadConfig of %d bytes allocated %d", MaxConfig, n)
	}
}
