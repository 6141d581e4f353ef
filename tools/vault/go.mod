// The Vault server the tests start (dev mode, 127.0.0.1). Vault is BUSL and
// only a test server here: it lives in a module of its own so none of its
// dependencies reach the product's go.mod. Build: make vault (see Makefile).
module github.com/mcp-secrets/mcp-secrets/tools/vault

go 1.25.1

require github.com/hashicorp/vault v1.21.0

replace (
	github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3
	github.com/hashicorp/vault/api => github.com/hashicorp/vault/api v1.22.0
	github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk v0.20.0
	github.com/ma314smith/signedxml => github.com/moov-io/signedxml v1.1.1
)
