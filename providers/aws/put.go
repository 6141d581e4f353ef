package aws

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Put stores values as the secret name, a JSON object, for mcp-secrets
// wrap: CreateSecret, or PutSecretValue (a new AWSCURRENT version) when the
// secret exists. Reads stay with Fetch.
func (p *Provider) Put(ctx context.Context, name string, values map[string]string) error {
	c, region, err := p.clientFor(name)
	if err != nil {
		return err
	}
	b, err := json.Marshal(values)
	if err != nil {
		return err // strings always encode
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		Description:  aws.String("An MCP server's secrets, one key per variable (mcp-secrets wrap)"),
		SecretString: aws.String(string(b)),
	}, p.in(region)...)
	var exists *types.ResourceExistsException
	if errors.As(err, &exists) {
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId:     aws.String(name),
			SecretString: aws.String(string(b)),
		}, p.in(region)...)
	}
	if err != nil {
		return classify(err)
	}
	return nil
}
