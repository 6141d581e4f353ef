package launch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Credentials are the launcher's own provider credentials. The child never
// inherits them unless --keep-env names one: a server that needs a secret gets
// that secret, not the key to the whole store.
var Credentials = []string{
	// AWS
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_ACCESS_KEY", "AWS_SECRET_KEY", // older names the SDK still reads
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE",
	// HashiCorp Vault
	"VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_JWT", "VAULT_JWT_FILE", "VAULT_K8S_TOKEN_FILE",
	// Azure
	"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_PASSWORD",
	"AZURE_FEDERATED_TOKEN_FILE",
	"IDENTITY_HEADER", "MSI_SECRET", // with the identity endpoint, they get tokens for the managed identity
	// serve's own bearer token
	"MCP_SECRETS_AUTH_TOKEN",
}

// EnvOptions say which of the launcher's variables the child starts from.
type EnvOptions struct {
	Clean bool     // start from nothing but Keep
	Keep  []string // names kept even if they are credentials
}

// ChildEnv builds the child's environment: the launcher's environ (minus
// credentials, or only Keep with Clean), then files (variables of --env-file
// the environment does not set), then the resolved variables.
func ChildEnv(environ []string, files map[string]string, resolved []providers.Resolved, o EnvOptions) []string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		keep := slices.Contains(o.Keep, k)
		if keep || !o.Clean && !slices.Contains(Credentials, k) {
			env[k] = v
		}
	}
	for k, v := range files {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	for _, r := range resolved {
		env[r.Name] = r.Value.Reveal()
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// CheckArgs refuses references in the child's arguments unless allowed:
// /proc/PID/cmdline is readable by every user of the machine.
func CheckArgs(args []string, allow bool) error {
	for i, a := range args {
		if !providers.HasRef(a) {
			continue
		}
		t, err := providers.Parse(a)
		if err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
		if refs := t.Refs(); len(refs) > 0 && !allow {
			return providers.Errorf(providers.ErrConfig, "argument %d holds the reference %s: arguments are readable by every user (/proc/PID/cmdline); "+
				"set it in an environment variable instead, or pass --allow-secret-args", i, refs[0])
		}
	}
	return nil
}
