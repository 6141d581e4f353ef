package injector

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// reopenPipe opens the pipe fd refers to again, through /proc: a new open
// file description of the same pipe, whose O_NONBLOCK is the launcher's
// alone. Nil if it cannot.
func reopenPipe(fd int) *os.File {
	nfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(nfd), "client-stdout")
}
