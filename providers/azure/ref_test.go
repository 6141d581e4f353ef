package azure

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

func TestLocate(t *testing.T) {
	const ver = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		path, version, stage string
		suffix               string // AZURE_KEYVAULT_DNS_SUFFIX
		want                 location
		err                  string // ErrConfig with this text
	}{
		{path: "myvault/db", want: location{"myvault.vault.azure.net", "db", ""}},
		{path: "MyVault/DB-Password", want: location{"myvault.vault.azure.net", "DB-Password", ""}},
		{path: "myvault/db", version: ver, want: location{"myvault.vault.azure.net", "db", ver}},
		{path: "myvault/db", suffix: ".vault.azure.cn", want: location{"myvault.vault.azure.cn", "db", ""}},
		{path: "https://myvault.vault.azure.net/secrets/db", want: location{"myvault.vault.azure.net", "db", ""}},
		{path: "https://MyVault.Vault.Azure.Net/secrets/db/" + ver, want: location{"myvault.vault.azure.net", "db", ver}},
		{path: "https://myvault.vault.azure.net/secrets/db", version: ver, want: location{"myvault.vault.azure.net", "db", ver}},
		{path: "https://myvault.vault.usgovcloudapi.net/secrets/db", want: location{"myvault.vault.usgovcloudapi.net", "db", ""}},
		{path: "https://myvault.vault.azure.cn/secrets/db", want: location{"myvault.vault.azure.cn", "db", ""}},
		{path: "https://myvault.vault.example.org/secrets/db", suffix: "vault.example.org", want: location{"myvault.vault.example.org", "db", ""}},

		{path: "db", err: "want VAULT/NAME or https://VAULT.vault.azure.net/secrets/NAME[/VERSION]"},
		{path: "myvault/db/" + ver, err: "want VAULT/NAME"},
		{path: "myvault/", err: `secret name ""`},
		{path: "myvault/db_password", err: `secret name "db_password"`},
		{path: "myvault/" + strings.Repeat("a", 128), err: "secret name"},
		{path: "my_vault/db", err: `vault name "my_vault"`},
		{path: "mv/db", err: `vault name "mv"`},
		{path: "1vault/db", err: `vault name "1vault"`},
		{path: "my--vault/db", err: `vault name "my--vault"`},
		{path: "myvault-/db", err: `vault name "myvault-"`},
		{path: "myvault/db", version: "../keys", err: `version "../keys"`},
		{path: "myvault/db", stage: "AWSCURRENT", err: "versions, not stages"},
		{path: "myvault/db", suffix: "evil.com/x", err: `AZURE_KEYVAULT_DNS_SUFFIX "evil.com/x" is not a domain`},
		{path: "http://myvault.vault.azure.net/secrets/db", err: "want VAULT/NAME"},
		{path: "https://evil.example.com/secrets/db", err: "evil.example.com is not a Key Vault host (*.vault.azure.net)"},
		{path: "https://myvault.vault.azure.net.evil.com/secrets/db", err: "is not a Key Vault host"},
		{path: "https://myvault.vault.azure.net:8443/secrets/db", err: "want VAULT/NAME"},
		{path: "https://user@myvault.vault.azure.net/secrets/db", err: "want VAULT/NAME"},
		{path: "https://myvault.vault.azure.net/keys/db", err: "want VAULT/NAME"},
		{path: "https://myvault.vault.azure.net/secrets/db/" + ver + "/x", err: "want VAULT/NAME"},
		{path: "https://myvault.vault.azure.net/secrets/a%2Fb", err: `secret name "a%2Fb"`},
		{path: "https://myvault.vault.azure.net/secrets/db/" + ver, version: ver, err: "version given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p := New(Options{Getenv: func(k string) string {
				if k == "AZURE_KEYVAULT_DNS_SUFFIX" {
					return tc.suffix
				}
				return ""
			}})
			got, err := p.locate(providers.Ref{Provider: "azure", Path: tc.path, Version: tc.version, Stage: tc.stage})
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, providers.ErrConfig) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("got %v; want a configuration error with %q", err, tc.err)
			}
		})
	}
}
