package injector

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// reapOrphans waits for the zombies PID 1 inherits (processes orphaned by
// the children's descendants), leaving every owned pid to its own Wait. It
// looks them up in /proc rather than calling wait(-1), which would steal a
// child's exit status from exec.Cmd.
func reapOrphans(owned func(int) bool) {
	me := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 2 || string(f[0]) != "Z" || string(f[1]) != strconv.Itoa(me) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil || owned(pid) {
			continue
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}
