package injector

import (
	"io"
	"os/exec"
)

// needWatchdog: on Windows each child's kill-on-close Job Object holds its
// whole tree, and the system closes the launcher's handles however it ends.
const needWatchdog = false

type watchdog struct{}

func startWatchdog(*exec.Cmd, *Guard) (*watchdog, error) { return nil, nil }
func (*watchdog) send(byte, int)                         {}
func (*watchdog) close()                                 {}

// WatchdogMain has nothing to do on Windows.
func WatchdogMain(io.Reader) int { return 0 }
