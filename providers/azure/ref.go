package azure

import (
	"net/url"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// defaultSuffix is Key Vault's domain in Azure's public cloud. Sovereign
// clouds set AZURE_KEYVAULT_DNS_SUFFIX (vault.azure.cn,
// vault.usgovcloudapi.net).
const defaultSuffix = "vault.azure.net"

// cloudSuffix reports whether s is the Key Vault domain of one of Azure's
// clouds. A URL reference must name a host under one of them (or under
// AZURE_KEYVAULT_DNS_SUFFIX), so a bearer token is only ever sent to a vault.
func cloudSuffix(s string) bool {
	switch s {
	case "vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net":
		return true
	}
	return false
}

// location is the secret a reference names.
type location struct {
	host    string // vault host, lower case: myvault.vault.azure.net
	name    string
	version string // "" for the current version
}

const wantForm = "want VAULT/NAME or https://VAULT." + defaultSuffix + "/secrets/NAME[/VERSION]"

// locate parses a reference's path: VAULT/NAME, or a secret's URL as the
// portal shows it, https://VAULT.vault.azure.net/secrets/NAME[/VERSION].
func (p *Provider) locate(ref providers.Ref) (location, error) {
	if ref.Stage != "" {
		return location{}, providers.Errorf(providers.ErrConfig, "?stage=%s: Key Vault secrets have versions, not stages", ref.Stage)
	}
	if !validSuffix(p.suffix) {
		return location{}, providers.Errorf(providers.ErrConfig, "AZURE_KEYVAULT_DNS_SUFFIX %q is not a domain", p.suffix)
	}
	var loc location
	var vault string
	if strings.Contains(ref.Path, "://") {
		u, err := url.Parse(ref.Path)
		if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" {
			return location{}, providers.Errorf(providers.ErrConfig, "%q: %s", ref.Path, wantForm)
		}
		loc.host = strings.ToLower(u.Host)
		var suffix string
		vault, suffix, _ = strings.Cut(loc.host, ".")
		if suffix != p.suffix && !cloudSuffix(suffix) {
			return location{}, providers.Errorf(providers.ErrConfig, "%s is not a Key Vault host (*.%s)", loc.host, p.suffix)
		}
		// Escaped, so that an encoded "/" stays in its segment and fails the name check.
		rest, ok := strings.CutPrefix(u.EscapedPath(), "/secrets/")
		loc.name, loc.version, _ = strings.Cut(rest, "/")
		if !ok || strings.Contains(loc.version, "/") {
			return location{}, providers.Errorf(providers.ErrConfig, "%q: %s", ref.Path, wantForm)
		}
	} else {
		var ok bool
		vault, loc.name, ok = strings.Cut(ref.Path, "/")
		if !ok || strings.Contains(loc.name, "/") {
			return location{}, providers.Errorf(providers.ErrConfig, "%q: %s", ref.Path, wantForm)
		}
		vault = strings.ToLower(vault)
		loc.host = vault + "." + p.suffix
	}
	if ref.Version != "" {
		if loc.version != "" {
			return location{}, providers.Errorf(providers.ErrConfig, "version given twice, in the URL and as ?version=")
		}
		loc.version = ref.Version
	}
	switch {
	case !validVault(vault):
		return location{}, providers.Errorf(providers.ErrConfig, "vault name %q: want 3 to 24 letters, digits and single dashes, starting with a letter", vault)
	case !validName(loc.name):
		return location{}, providers.Errorf(providers.ErrConfig, "secret name %q: want 1 to 127 letters, digits and dashes", loc.name)
	case loc.version != "" && !validVersion(loc.version):
		return location{}, providers.Errorf(providers.ErrConfig, "version %q: want a version id (letters and digits)", loc.version)
	}
	return loc, nil
}

// validVault is Key Vault's rule for vault names, which are DNS labels.
func validVault(s string) bool {
	if len(s) < 3 || len(s) > 24 || !isLetter(s[0]) || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// validName is Key Vault's rule for secret names.
func validName(s string) bool {
	return len(s) >= 1 && len(s) <= 127 && strings.TrimFunc(s, isNameRune) == ""
}

// validVersion keeps a version to the characters of Key Vault's ids (32 hex
// digits), so it cannot change the request's path.
func validVersion(s string) bool {
	return len(s) <= 64 && strings.TrimFunc(s, func(r rune) bool { return r != '-' && isNameRune(r) }) == ""
}

func validSuffix(s string) bool {
	return strings.Contains(s, ".") && !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".") &&
		!strings.Contains(s, "..") && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == ""
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isNameRune(r rune) bool {
	return r == '-' || '0' <= r && r <= '9' || r < 0x80 && isLetter(byte(r))
}
