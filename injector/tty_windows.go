package injector

import (
	"os"

	"golang.org/x/sys/windows"
)

func isTerminal(f *os.File) bool {
	return ioctlOK(f, func(fd uintptr) error {
		var mode uint32
		return windows.GetConsoleMode(windows.Handle(fd), &mode)
	})
}
