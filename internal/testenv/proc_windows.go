package testenv

import (
	"os"
	"syscall"
)

// runAs is unused on Windows: servers run as the tests' own user.
type runAs struct{}

// sysProcAttr has nothing to set: Windows has no process group that a kill
// reaches (that takes a Job Object) and no parent-death signal.
func sysProcAttr(*runAs, bool) *syscall.SysProcAttr { return nil }

// killGroup kills the server process alone; its own children outlive it.
func killGroup(p *os.Process) { _ = p.Kill() }

// groupLive cannot tell: nothing tracks a server's children.
func groupLive(int) bool { return false }

func postgresUser() (*runAs, error) { return nil, nil }

func chownTo(string, *runAs) error { return nil }
