// Command showenv is the demo's child: it prints, masked, the variables it
// was asked about, and whether any of the launcher's cloud credentials
// reached it (they must not).
package main

import (
	"fmt"
	"os"
)

func main() {
	for _, name := range os.Args[1:] {
		v, ok := os.LookupEnv(name)
		if !ok {
			fmt.Printf("%-16s (not set)\n", name)
			continue
		}
		fmt.Printf("%-16s %s\n", name, mask(v))
	}
	for _, name := range []string{"AWS_SECRET_ACCESS_KEY", "VAULT_TOKEN", "AZURE_CLIENT_SECRET"} {
		if _, ok := os.LookupEnv(name); ok {
			fmt.Printf("%-16s LEAKED to the child\n", name)
		}
	}
}

// mask shows the first characters of long values and the length.
func mask(v string) string {
	r := []rune(v)
	show := 0
	if len(r) >= 12 {
		show = 4
	}
	return fmt.Sprintf("%s… (%d characters)", string(r[:show]), len(r))
}
