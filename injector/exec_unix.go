//go:build unix

package injector

import (
	"os/exec"
	"syscall"
)

// Exec replaces the launcher with argv[0], env as its environment: no
// supervisor, no rotation, nothing left running of the launcher. It returns
// only on failure.
func Exec(argv, env []string) (int, error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, &StartError{err}
	}
	return 0, &StartError{syscall.Exec(path, argv, env)}
}
