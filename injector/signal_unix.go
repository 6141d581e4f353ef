//go:build unix

package injector

import (
	"os"
	"syscall"
)

// Stop signals: the launcher forwards them to the child's group and ends
// when the child does (how MCP clients stop servers). Other forwarded
// signals go to the child alone.
var (
	stopSignals    = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}
	forwardSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGQUIT}
	childSignal    = []os.Signal{syscall.SIGCHLD}
)
