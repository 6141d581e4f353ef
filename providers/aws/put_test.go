package aws_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Put creates a secret holding a JSON object, then adds versions to it.
func TestPut(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	name := f.kumo.Name("mcp/github")
	if err := f.p.Put(ctx, name, map[string]string{"GITHUB_TOKEN": "ghp_put_0123456789", "OTHER": "<&>"}); err != nil {
		t.Fatal(err)
	}
	got := func() string {
		t.Helper()
		out, err := f.kumo.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SecretString)
	}
	if v := got(); v != `{"GITHUB_TOKEN":"ghp_put_0123456789","OTHER":"\u003c\u0026\u003e"}` {
		t.Errorf("stored %s", v)
	}
	// What Put stores, the resolver reads back field by field.
	res, err := f.resolve(t, providers.Var{Name: "T", Value: "$<aws:" + name + "#GITHUB_TOKEN>"}, providers.Var{Name: "O", Value: "$<aws:" + name + "#OTHER>"})
	if err != nil || res[0].Value.Reveal() != "ghp_put_0123456789" || res[1].Value.Reveal() != "<&>" {
		t.Fatalf("resolve: %v", err)
	}
	// An existing secret gets a new current version.
	if err := f.p.Put(ctx, name, map[string]string{"GITHUB_TOKEN": "ghp_put_second_1234"}); err != nil {
		t.Fatal(err)
	}
	if v := got(); v != `{"GITHUB_TOKEN":"ghp_put_second_1234"}` {
		t.Errorf("after the second Put: %s", v)
	}
	if n := f.proxy.Calls("PutSecretValue"); n != 1 {
		t.Errorf("%d PutSecretValue calls, want 1", n)
	}
}

func TestPutDenied(t *testing.T) {
	f := newFixture(t)
	f.proxy.Fail("CreateSecret", testenv.FaultDenied)
	err := f.p.Put(context.Background(), f.kumo.Name("mcp/x"), map[string]string{"K": "put-denied-value-123"})
	if !errors.Is(err, providers.ErrDenied) || strings.Contains(err.Error(), "put-denied-value-123") {
		t.Errorf("error %v, want access denied without the value", err)
	}
}
