package injector

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// tree is the child's Job Object: every process it starts is in the job
// from birth, and the job is killed when its last handle closes, which the
// system does for the launcher however it ends.
type tree struct {
	pid int
	job windows.Handle // 0 if the job could not be set up
}

// The child starts suspended in a process group of its own (the target of
// CTRL_BREAK_EVENT), so it is in its job before it can start anything.
func sysProcAttr(bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_SUSPENDED}
}

func (t *tree) hold(pid int, _ bool, g *Guard) error {
	t.pid = pid
	job, err := newJob(pid)
	if err != nil {
		g.degraded(fmt.Sprintf("the child runs without a job object (%v): processes it starts may outlive the launcher", err))
	} else {
		t.job = job
	}
	if err := resume(pid); err != nil {
		return fmt.Errorf("resuming the child: %w", err)
	}
	return nil
}

// newJob puts the suspended process pid in a new kill-on-close job.
func newJob(pid int) (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, err
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation, uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, err
	}
	p, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		windows.CloseHandle(job)
		return 0, err
	}
	defer windows.CloseHandle(p)
	if err := windows.AssignProcessToJobObject(job, p); err != nil {
		windows.CloseHandle(job)
		return 0, err
	}
	return job, nil
}

// resume starts the threads of a process created suspended (os/exec keeps
// no handle to its first thread).
func resume(pid int) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != uint32(pid) {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return err
		}
		_, err = windows.ResumeThread(th)
		windows.CloseHandle(th)
		if err != nil {
			return err
		}
		resumed++
	}
	if resumed == 0 {
		return fmt.Errorf("no thread of process %d found", pid)
	}
	return nil
}

// release closes the job: kill-on-close ends whatever is still in it.
func (t *tree) release(*Guard) {
	if t.job != 0 {
		windows.CloseHandle(t.job)
		t.job = 0
	}
}

// jobAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION.
type jobAccounting struct {
	TotalUserTime, TotalKernelTime, ThisPeriodTotalUserTime, ThisPeriodTotalKernelTime int64
	TotalPageFaultCount, TotalProcesses, ActiveProcesses, TotalTerminatedProcesses     uint32
}

// alive reports whether any process is left in the job.
func (t *tree) alive() bool {
	if t.job == 0 {
		return false
	}
	var info jobAccounting
	err := windows.QueryInformationJobObject(t.job, windows.JobObjectBasicAccountingInformation, uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil)
	return err == nil && info.ActiveProcesses > 0
}

// signal: SIGKILL ends the job; any other stop is CTRL_BREAK_EVENT to the
// child's process group. It reaches the child only where it shares the
// launcher's console; where it cannot be sent there is no gentler stop, and
// the job ends at once.
func (t *tree) signal(sig syscall.Signal) error {
	if sig != syscall.SIGKILL && windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(t.pid)) == nil {
		return nil
	}
	return t.kill()
}

func (t *tree) kill() error {
	if t.job == 0 {
		return errNoJob
	}
	return windows.TerminateJobObject(t.job, 1)
}

var errNoJob = fmt.Errorf("no job object")

func signalOne(p *os.Process, sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return p.Kill()
	}
	return windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(p.Pid))
}

// exitStatus is the child's exit code, which the launcher passes on.
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	return ps.ExitCode()
}
