package azure

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfigured(t *testing.T) {
	home := t.TempDir()
	loggedIn, loggedOut := filepath.Join(home, "in"), filepath.Join(home, "out")
	for dir, profile := range map[string]string{
		loggedIn:  "\uFEFF" + `{"installationId":"x","subscriptions":[{"id":"sub","isDefault":true}]}`,
		loggedOut: "\uFEFF" + `{"installationId":"x","subscriptions":[]}`,
	} {
		if err := os.MkdirAll(filepath.Join(dir, ".azure"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".azure", "azureProfile.json"), []byte(profile), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sp := map[string]string{"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing", nil, false},
		{"client secret", with(sp, "AZURE_CLIENT_SECRET", "s"), true},
		{"client certificate", with(sp, "AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"), true},
		{"username", with(sp, "AZURE_USERNAME", "u", "AZURE_PASSWORD", "p"), true},
		{"client id and tenant alone", sp, false},
		{"secret without tenant", map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}, false},
		{"workload identity", map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token"}, true},
		{"App Service identity", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:41741/msi/token"}, true},
		{"Cloud Shell identity", map[string]string{"MSI_ENDPOINT": "http://localhost:50342/oauth2/token"}, true},
		{"explicit credential choice", map[string]string{"AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential"}, true},
		{"az login", map[string]string{"HOME": loggedIn}, true},
		{"az logout", map[string]string{"HOME": loggedOut}, false},
		{"no az profile", map[string]string{"HOME": home}, false},
		{"AZURE_CONFIG_DIR", map[string]string{"HOME": home, "AZURE_CONFIG_DIR": filepath.Join(loggedIn, ".azure")}, true},
		{"Windows home", map[string]string{"USERPROFILE": loggedIn}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{Getenv: func(k string) string { return tc.env[k] }})
			if got := p.Configured(); got != tc.want {
				t.Errorf("Configured() = %v, want %v", got, tc.want)
			}
		})
	}
}
