package main

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts of every test here run this test binary as
// mcp-secrets.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mcp-secrets": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}
