package injector

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/windows"
)

// Exec runs argv[0] with env as its environment and returns its exit code:
// Windows cannot replace a process, so the launcher waits for the child,
// which is in a kill-on-close job like any child (it ends if the launcher
// is killed). It shares the launcher's console group, so Ctrl-C reaches it
// as if it had been started directly; the launcher ignores it and waits.
// Nothing is supervised or restarted.
func Exec(argv, env []string) (int, error) {
	signal.Ignore(os.Interrupt)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_SUSPENDED}
	if err := cmd.Start(); err != nil {
		return 0, &StartError{err}
	}
	var t tree
	if err := t.hold(cmd.Process.Pid, true, nil); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, &StartError{err}
	}
	defer t.release(nil)
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	return exitStatus(cmd.ProcessState), nil
}
