//go:build unix

package injector

import "syscall"

func setNonblock(fd int) { syscall.SetNonblock(fd, true) }
