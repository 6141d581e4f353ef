package injector

import (
	"os"
	"syscall"
)

// Windows delivers Ctrl-C and Ctrl-Break as os.Interrupt and a console's
// close, logoff and shutdown as SIGTERM: those stop the child. It has no
// other signals to forward, and no SIGCHLD.
var (
	stopSignals    = []os.Signal{os.Interrupt, syscall.SIGTERM}
	forwardSignals []os.Signal
	childSignal    []os.Signal
)
