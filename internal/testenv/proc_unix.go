//go:build unix

package testenv

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// runAs is another user a server runs as.
type runAs = syscall.Credential

// killGroup SIGKILLs p's whole process group: a server's own children too.
func killGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}

// postgresUser is who runs PostgreSQL: initdb and postgres refuse to run as
// root, so user postgres when the tests run as root, else nil (the tests'
// own user).
func postgresUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no user postgres to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &runAs{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// chownTo gives path to as; nil leaves it to the tests' own user.
func chownTo(path string, as *runAs) error {
	if as == nil {
		return nil
	}
	return os.Chown(path, int(as.Uid), int(as.Gid))
}
