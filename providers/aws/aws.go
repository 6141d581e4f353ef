// Package aws answers $<aws:NAME-or-ARN?version=ID&stage=LABEL> from AWS
// Secrets Manager, with the AWS SDK's default configuration chain: static
// keys, shared config and SSO profiles, IRSA web identity, container
// credentials, IMDS, and AWS_ENDPOINT_URL[_SECRETS_MANAGER].
package aws

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Options configure a Provider.
type Options struct {
	// Getenv reads the launcher's environment; nil means os.Getenv.
	Getenv func(string) string
	// Log receives the provider's rare notices; nil discards them.
	Log *slog.Logger
}

// Provider fetches secrets from Secrets Manager. New is cheap: the SDK
// configuration is loaded on first use, because every MCP server start pays
// for whatever the launcher does before it.
type Provider struct {
	getenv func(string) string
	log    *slog.Logger

	once   sync.Once
	client *secretsmanager.Client
	region string // the configuration's region, "" if none
	err    error  // why the client could not be built

	mu      sync.Mutex
	noBatch map[string]bool // regions whose endpoint lacks BatchGetSecretValue
}

var (
	_ providers.Configurer    = (*Provider)(nil)
	_ providers.VersionLister = (*Provider)(nil)
	_ providers.Writer        = (*Provider)(nil)
)

// New returns a provider that reads its settings through o.Getenv.
func New(o Options) *Provider {
	p := &Provider{getenv: o.Getenv, log: cmp.Or(o.Log, slog.New(slog.DiscardHandler)), noBatch: map[string]bool{}}
	if p.getenv == nil {
		p.getenv = os.Getenv
	}
	return p
}

// Configured reports whether this machine is set up for AWS, without a
// network call: static keys, a profile, a web identity token, container
// credentials, or a region in the environment (EC2, ECS and Lambda set one,
// and the SDK then finds the instance or task role), or a shared config or
// credentials file present. Anything else falls back to the dotenv file under
// --fallback auto.
func (p *Provider) Configured() bool {
	for _, name := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_REGION", "AWS_DEFAULT_REGION",
	} {
		if p.getenv(name) != "" {
			return true
		}
	}
	for _, f := range [...]struct{ env, name string }{
		{"AWS_CONFIG_FILE", "config"},
		{"AWS_SHARED_CREDENTIALS_FILE", "credentials"},
	} {
		path := p.getenv(f.env)
		if path == "" {
			home := p.getenv("HOME")
			if home == "" {
				continue
			}
			path = filepath.Join(home, ".aws", f.name)
		}
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	return false
}

// Fetch returns the secret's SecretString, or its SecretBinary bytes, and
// its VersionId.
func (p *Provider) Fetch(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	c, region, err := p.clientFor(ref.Path)
	if err != nil {
		return providers.Secret{}, err
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Path)}
	if ref.Version != "" {
		in.VersionId = aws.String(ref.Version)
	}
	if ref.Stage != "" {
		in.VersionStage = aws.String(ref.Stage)
	}
	out, err := c.GetSecretValue(ctx, in, p.in(region)...)
	if err != nil {
		return providers.Secret{}, classify(err)
	}
	v := aws.ToString(out.SecretString)
	if out.SecretString == nil {
		v = string(out.SecretBinary)
	}
	return providers.NewSecret(v, aws.ToString(out.VersionId)), nil
}

// clientFor returns the client and the region that answer for a secret id:
// a full ARN's own region, else the configuration's.
func (p *Provider) clientFor(id string) (*secretsmanager.Client, string, error) {
	c, def, err := p.load()
	if err != nil {
		return nil, "", err
	}
	r, err := regionOf(id)
	if err != nil {
		return nil, "", err
	}
	if r = cmp.Or(r, def); r == "" {
		return nil, "", providers.Errorf(providers.ErrConfig, "no AWS region: set AWS_REGION or a profile's region, or use the secret's full ARN")
	}
	return c, r, nil
}

// in returns the per-call options that send a call to region.
func (p *Provider) in(region string) []func(*secretsmanager.Options) {
	if region == p.region {
		return nil
	}
	return []func(*secretsmanager.Options){func(o *secretsmanager.Options) { o.Region = region }}
}

// regionOf returns the region of a secret ARN, or "" for a name.
func regionOf(id string) (string, error) {
	if !strings.HasPrefix(id, "arn:") {
		return "", nil
	}
	a, err := arn.Parse(id)
	if err != nil || a.Service != "secretsmanager" || !strings.HasPrefix(a.Resource, "secret:") || a.Region == "" {
		return "", providers.Errorf(providers.ErrConfig, "%q is not a Secrets Manager secret ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME)", id)
	}
	return a.Region, nil
}

// load builds the client once.
func (p *Provider) load() (*secretsmanager.Client, string, error) {
	p.once.Do(func() {
		// The SDK keeps 10 idle connections per host; the resolver fetches
		// 16 secrets at a time, so the rest would reconnect (and, with TLS,
		// handshake again) in the middle of a resolution.
		httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 32
		})
		opts := append(p.loadOptions(), config.WithHTTPClient(httpClient))
		cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
		if err != nil {
			p.err = providers.Errorf(providers.ErrConfig, "AWS configuration: %v", err)
			return
		}
		if cfg.Credentials != nil {
			cfg.Credentials = aws.NewCredentialsCache(credentialsProvider{cfg.Credentials})
		}
		p.client, p.region = secretsmanager.NewFromConfig(cfg), cfg.Region
	})
	return p.client, p.region, p.err
}

// loadOptions hands the SDK, as options, the settings it would otherwise read
// from the process environment itself, so the launcher's environment decides
// them (the same variables in the CLI; tests inject theirs). Each keeps the
// SDK's own precedence. What is not here (web identity, container
// credentials, IMDS, retry settings) the SDK reads from the process.
func (p *Provider) loadOptions() []func(*config.LoadOptions) error {
	var opts []func(*config.LoadOptions) error
	env := func(names ...string) string {
		for _, n := range names {
			if v := p.getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	if r := env("AWS_REGION", "AWS_DEFAULT_REGION"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	if !strings.EqualFold(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		if u := env("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"); u != "" {
			opts = append(opts, config.WithBaseEndpoint(u))
		}
	}
	if f := env("AWS_CONFIG_FILE"); f != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{f}))
	}
	if f := env("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{f}))
	}
	id, secret := env("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"), env("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	switch profile := env("AWS_PROFILE", "AWS_DEFAULT_PROFILE"); {
	case id != "" && secret != "":
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, env("AWS_SESSION_TOKEN"))))
	case profile != "" && env("AWS_WEB_IDENTITY_TOKEN_FILE") == "":
		// A profile given as an option outranks environment keys and web
		// identity in the SDK's chain, where AWS_PROFILE does not: pass it
		// only when neither is set.
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	return opts
}

// credentialsProvider marks the errors of the credential chain, so they read
// as credential failures rather than whatever the chain's last step met.
type credentialsProvider struct{ aws.CredentialsProvider }

func (c credentialsProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return creds, &credentialsError{err}
	}
	return creds, nil
}

type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return fmt.Sprintf("no usable AWS credentials: %v", e.err) }
func (e *credentialsError) Unwrap() error { return e.err }
