//go:build linux

// Package wine runs this module's Windows programs under Wine (Debian's
// wine64), for smoke tests of the Windows binaries on the Linux CI.
//
// A Wine prefix takes seconds to create and holds ~700 MB of DLL copies, so
// one is made per Wine version and machine, under the user's cache
// directory, and shared; Wine serves concurrent programs in one prefix.
package wine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Wine is a wine64 and a ready prefix.
type Wine struct {
	Version string // as wine64 --version prints it
	// Shim is set when Wine lacks bcryptprimitives.dll and the prefix holds
	// the one processPrngShim writes.
	Shim bool

	bin, server, prefix string
}

// lib is where Debian's wine64 installs wine64 and wineserver; only the
// wine package (a Recommends) puts them on PATH.
const lib = "/usr/lib/wine"

// overrides keep Wine from offering to download and install Mono and Gecko
// (for .NET and HTML programs) and from writing menu entries into $HOME.
const overrides = "mscoree,mshtml=;winemenubuilder.exe=d"

// New finds wine64 and returns it with a ready prefix. Wine missing is a
// failure; under -short the test is skipped, as tests of real servers are.
func New(t testing.TB) *Wine {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs Windows programs under Wine")
	}
	w := &Wine{bin: find("wine64"), server: find("wineserver")}
	if w.bin == "" || w.server == "" {
		t.Fatal("wine64 and wineserver are neither on PATH nor in " + lib + ": install Debian's wine64 (.ci/run does)")
	}
	out, err := exec.Command(w.bin, "--version").Output()
	if err != nil {
		t.Fatalf("wine64 --version: %v", err)
	}
	w.Version = strings.TrimSpace(string(out))
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no cache directory for the Wine prefix: %v", err)
	}
	// Keyed by the shim too: a prefix holds the shim of its making.
	key := strings.Trim(regexp.MustCompile(`[^A-Za-z0-9.+-]+`).ReplaceAllString(w.Version, "_"), "_")
	shim := sha256.Sum256(processPrngShim())
	w.prefix = filepath.Join(cache, "mcp-secrets", fmt.Sprintf("wineprefix-%s-%x", key, shim[:4]))
	if _, err := os.Stat(filepath.Join(w.prefix, "system.reg")); err != nil {
		begin := time.Now()
		if err := w.create(); err != nil {
			t.Fatalf("wine prefix %s: %v", w.prefix, err)
		}
		t.Logf("wine: created prefix %s in %v", w.prefix, time.Since(begin).Round(time.Millisecond))
	}
	dll, err := os.ReadFile(w.system32("bcryptprimitives.dll"))
	if err != nil {
		t.Fatalf("wine prefix %s: %v", w.prefix, err)
	}
	w.Shim = bytes.Equal(dll, processPrngShim())
	t.Cleanup(w.wait)
	return w
}

func find(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p, err := exec.LookPath(filepath.Join(lib, name)); err == nil {
		return p
	}
	return ""
}

func (w *Wine) system32(name string) string {
	return filepath.Join(w.prefix, "drive_c", "windows", "system32", name)
}

// env is the environment of every Wine process: the prefix, no debug
// output, and the overrides.
func (w *Wine) env(prefix string) []string {
	return []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=" + overrides}
}

// create makes the prefix in a temporary directory beside it and renames it
// into place, so a prefix that exists is complete; a run that loses the
// race to create it uses the winner's.
func (w *Wine) create() error {
	if err := os.MkdirAll(filepath.Dir(w.prefix), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(w.prefix), "wineprefix-new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	boot := exec.CommandContext(ctx, w.bin, "wineboot", "--init")
	boot.Env = append(os.Environ(), w.env(tmp)...)
	if out, err := boot.CombinedOutput(); err != nil {
		return fmt.Errorf("wineboot --init: %w\n%s", err, out)
	}
	// wineserver writes the registry when it exits, 3 s after the last
	// program by default.
	stop := exec.CommandContext(ctx, w.server, "-w")
	stop.Env = append(os.Environ(), w.env(tmp)...)
	if out, err := stop.CombinedOutput(); err != nil {
		return fmt.Errorf("wineserver -w: %w\n%s", err, out)
	}
	dll := filepath.Join(tmp, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	if _, err := os.Stat(dll); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(dll, processPrngShim(), 0o644); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, w.prefix); err != nil {
		if _, serr := os.Stat(filepath.Join(w.prefix, "system.reg")); serr == nil {
			return nil // another run made it meanwhile
		}
		return err
	}
	return nil
}

// Command runs the Windows program exe (a path on this machine) with args
// under Wine, with env as its environment: Wine hands it on to the program,
// with PATH and the like translated.
func (w *Wine) Command(ctx context.Context, env []string, exe string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, w.bin, append([]string{exe}, args...)...)
	cmd.Env = append(slices.Clip(env), w.env(w.prefix)...)
	cmd.WaitDelay = 5 * time.Second // wineserver may hold the output pipes a moment longer
	return cmd
}

// wait waits for the prefix's wineserver to exit (3 s after its last
// program), so no test leaves it running; one that other runs still use
// is waited for until they end.
func (w *Wine) wait() {
	cmd := exec.Command(w.server, "-w")
	cmd.Env = append(os.Environ(), w.env(w.prefix)...)
	_ = cmd.Run()
}

// Path is p, a path on this machine, as a Windows program under Wine names
// it: a prefix maps drive Z: to /.
func Path(p string) string {
	return `Z:` + strings.ReplaceAll(p, "/", `\`)
}
