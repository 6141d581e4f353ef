// Command child is the Windows child of the Wine smoke test: it prints, for
// each variable named in its arguments, a digest of its value (the launcher
// would redact the value itself), then exits with the code given first.
//
//	child CODE NAME...
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: child CODE NAME...")
		os.Exit(2)
	}
	code, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: child CODE NAME...")
		os.Exit(2)
	}
	for _, name := range os.Args[2:] {
		if v, ok := os.LookupEnv(name); ok {
			fmt.Printf("%s sha256:%x\n", name, sha256.Sum256([]byte(v)))
		} else {
			fmt.Printf("%s unset\n", name)
		}
	}
	os.Exit(code)
}
