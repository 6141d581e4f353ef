// Command mcp-secrets resolves secret references in a child's environment
// from AWS Secrets Manager, Azure Key Vault, HashiCorp Vault or a .env file,
// and starts and supervises the child. See README.md.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
