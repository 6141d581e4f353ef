//go:build unix

package file

import "syscall"

// openFlags make the open of a FIFO return at once instead of waiting for
// a writer (reads of a regular file ignore O_NONBLOCK), and keep a
// terminal from becoming the process's controlling one.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
