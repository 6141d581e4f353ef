package main

import (
	"syscall"
	"testing"
)

// The names a config may give --stop-signal on any system, as Windows reads
// them (it has no signal table of its own).
func TestPortableSignal(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want syscall.Signal
		ok   bool
	}{
		{"SIGTERM", syscall.SIGTERM, true},
		{"term", syscall.SIGTERM, true},
		{"15", syscall.SIGTERM, true},
		{"SIGINT", syscall.SIGINT, true},
		{"HUP", syscall.SIGHUP, true},
		{"SIGQUIT", syscall.SIGQUIT, true},
		{"9", syscall.SIGKILL, true},
		{"SIGUSR1", 0, false},
		{"NOPE", 0, false},
	} {
		got, ok := portableSignal(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("portableSignal(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
