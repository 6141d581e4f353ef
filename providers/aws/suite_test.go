package aws_test

import (
	"fmt"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
	awsprovider "github.com/mcp-secrets/mcp-secrets/providers/aws"
	"github.com/mcp-secrets/mcp-secrets/providers/providertest"
)

// kumoStore is Secrets Manager as kumo serves it, behind the fault proxy.
type kumoStore struct {
	f    *fixture
	made map[string]bool
}

var (
	_ providertest.Versioned = (*kumoStore)(nil)
	_ providertest.Denier    = (*kumoStore)(nil)
	_ providertest.Remote    = (*kumoStore)(nil)
)

func (s *kumoStore) Provider() providers.Provider { return s.f.p }

func (s *kumoStore) Versioned() {}

func (s *kumoStore) Set(t testing.TB, name, value string) string {
	if s.made[name] {
		return s.f.put(t, name, value)
	}
	s.made[name] = true
	_, version := s.f.create(t, name, value, nil)
	return version
}

func (s *kumoStore) Ref(name, field, version string) string {
	return providers.Ref{Provider: "aws", Path: s.f.prefix + name, Version: version, Field: field}.String()
}

func (s *kumoStore) Deny(_ testing.TB, name string) providers.Provider {
	s.f.proxy.Fail(s.f.prefix+name, testenv.FaultDenied)
	return s.f.p
}

func (s *kumoStore) Unreachable(t testing.TB) providers.Provider {
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	return awsprovider.New(awsprovider.Options{Getenv: envOf(s.f.kumo.Env(), "AWS_ENDPOINT_URL="+closed).get})
}

func TestSuite(t *testing.T) {
	providertest.Run(t, &kumoStore{f: newFixture(t), made: map[string]bool{}})
}
