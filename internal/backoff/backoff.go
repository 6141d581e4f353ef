// Package backoff is the one retry policy of the launcher: a pause that
// doubles from First with each failure in a row, up to Max. Rotation's
// polls of a store that is down, the supervisor's failed restarts and the
// sidecar's crashed pool children all wait by it.
package backoff

import (
	"context"
	"time"
)

// Policy is a doubling pause, capped.
type Policy struct {
	First, Max time.Duration
}

// Delay is the pause after n failures in a row (n >= 1).
func (p Policy) Delay(n int) time.Duration {
	d := p.First
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Sleep waits d or until ctx is done, and says which (true: d passed).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
