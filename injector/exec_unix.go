package injector

import (
	"os/exec"
	"syscall"
)

// Exec replaces the launcher with argv[0], env as its environment: no
// supervisor, no rotation, nothing left running of the launcher.
func Exec(argv, env []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return &StartError{err}
	}
	return &StartError{syscall.Exec(path, argv, env)}
}
