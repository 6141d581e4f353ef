package main

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts of every test here run this test binary as
// mcp-secrets, and the bounds tests run it as a process that holds 100 MB.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mcp-secrets": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		holdCommand:   hold100MB,
	})
}

// holdCommand is this test binary run as a process that holds 100 MB
// resident and exits: the control of the memory bounds' measure.
const holdCommand = "hold-100mb"

func hold100MB() {
	b := make([]byte, 100<<20)
	for i := range b {
		b[i] = 1 // touched, so resident
	}
	runtime.KeepAlive(b)
	os.Exit(0)
}
