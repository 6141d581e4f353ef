package main

import (
	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/aws"
)

// awsProvider answers $<aws:...> from AWS Secrets Manager.
func (a *app) awsProvider() providers.Provider {
	return aws.New(aws.Options{Getenv: a.getenv, Log: a.log})
}
