package injector

import (
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/windows"
)

var cancelSynchronousIo = windows.NewLazySystemDLL("kernel32.dll").NewProc("CancelSynchronousIo")

// interruptibleFile reads f on a locked thread that interrupt cancels with
// CancelSynchronousIo: a synchronous read of a pipe cannot be interrupted
// any other way without changing the client's handle.
func interruptibleFile(f *os.File) (io.Reader, func(), func()) {
	r := &cancelReader{f: f, idle: make(chan struct{}, 1)}
	return r, r.interrupt, func() {}
}

type cancelReader struct {
	f       *os.File
	mu      sync.Mutex
	thread  windows.Handle // the thread in Read, 0 when none
	stopped bool
	idle    chan struct{} // a Read has returned
}

func (r *cancelReader) Read(p []byte) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var th windows.Handle
	cur := windows.CurrentProcess()
	if err := windows.DuplicateHandle(cur, windows.CurrentThread(), cur, &th, 0, false, windows.DUPLICATE_SAME_ACCESS); err != nil {
		return 0, err
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		windows.CloseHandle(th)
		return 0, errInterrupted
	}
	r.thread = th
	r.mu.Unlock()
	n, err := r.f.Read(p)
	r.mu.Lock()
	r.thread = 0
	stopped := r.stopped
	r.mu.Unlock()
	windows.CloseHandle(th)
	select {
	case r.idle <- struct{}{}:
	default:
	}
	if stopped && n == 0 {
		return 0, errInterrupted
	}
	return n, err
}

// interrupt cancels the read under way, again until it has returned: the
// cancel may come just before the read starts.
func (r *cancelReader) interrupt() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	go func() {
		for range 200 {
			r.mu.Lock()
			th := r.thread
			if th != 0 {
				cancelSynchronousIo.Call(uintptr(th))
			}
			r.mu.Unlock()
			if th == 0 {
				return
			}
			select {
			case <-r.idle:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
}
