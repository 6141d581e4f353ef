package rotation

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDirs watches the directories of names (dir -> base names) until ctx
// is done, calling ready once the watches are in place, and changed with the
// path of a watched file that was written, created, renamed or removed,
// until changed returns false. A "..data" style name counts for every file
// of its directory: Kubernetes updates a secret volume by swapping that
// symlink.
func watchDirs(ctx context.Context, log *slog.Logger, names map[string]map[string]bool, ready func() bool, changed func(string) bool) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("cannot watch files; their changes will not be seen", "err", err)
		return
	}
	// Closing an inotify descriptor waits out the kernel's RCU grace period
	// (10-20 ms here): not on the way out of a launcher whose child ended.
	defer func() { go fw.Close() }()
	for dir := range names {
		if err := fw.Add(dir); err != nil {
			log.Warn("cannot watch a directory; changes to its files will not be seen", "dir", dir, "err", err)
		}
	}
	if !ready() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-fw.Errors:
			log.Warn("file watch", "err", err)
		case ev := <-fw.Events:
			if ev.Op == fsnotify.Chmod {
				continue
			}
			dir, base := filepath.Split(ev.Name)
			if !names[filepath.Clean(dir)][base] && !strings.HasPrefix(base, "..") {
				continue
			}
			if !changed(ev.Name) {
				return
			}
		}
	}
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// withTimeout runs one request to a store with a timeout (none if d is 0).
func withTimeout[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return f(ctx)
}
