package main

import (
	"fmt"
	"syscall"
)

// parseSignal accepts the names other systems use, so one config works
// everywhere; on Windows the stop is CTRL_BREAK_EVENT then the job's end,
// whatever --stop-signal says.
func parseSignal(s string) (syscall.Signal, error) {
	if sig, ok := portableSignal(s); ok {
		return sig, nil
	}
	return 0, usageError{fmt.Errorf("--stop-signal %q: not a signal", s)}
}
