package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

const (
	// batchSize is the most secrets one BatchGetSecretValue call may name.
	batchSize = 20
	// describeParallel bounds the DescribeSecret calls in flight where
	// BatchGetSecretValue is not served: Secrets Manager throttles per call.
	describeParallel = 8
	// pollTimeout bounds a poll whose caller set no deadline: the SDK's
	// HTTP client waits for an answer forever.
	pollTimeout = 30 * time.Second
)

// Versions returns the AWSCURRENT VersionId of each secret, for the rotation
// poller. It asks BatchGetSecretValue, 20 secrets a call, and where an
// endpoint does not serve it (kumo, or a policy that does not grant it) one
// DescribeSecret per secret, remembering that per region. Not ListSecrets:
// AWS documents it as possibly minutes behind. Secrets that do not exist are
// absent from the map.
func (p *Provider) Versions(ctx context.Context, keys []providers.Key) (map[providers.Key]string, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	byRegion := map[string][]providers.Key{}
	for _, k := range keys {
		_, r, err := p.clientFor(k.Path)
		if err != nil {
			return nil, err
		}
		byRegion[r] = append(byRegion[r], k)
	}
	out := map[providers.Key]string{}
	for region, keys := range byRegion {
		var err error
		if !p.batchUnsupported(region) {
			err = p.batchVersions(ctx, region, keys, out)
			if errors.Is(err, errBatchRefused) {
				p.log.Info("polling with DescribeSecret", "region", region, "reason", err)
				p.setBatchUnsupported(region)
			}
		}
		if p.batchUnsupported(region) {
			err = p.describeVersions(ctx, region, keys, out)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *Provider) batchUnsupported(region string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.noBatch[region]
}

func (p *Provider) setBatchUnsupported(region string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noBatch[region] = true
}

var errBatchRefused = errors.New("BatchGetSecretValue refused")

// batchRefused reports whether a BatchGetSecretValue call failed as a whole
// because the endpoint does not serve it (kumo answers InvalidAction) or the
// caller may not call it (the action needs its own IAM permission, which a
// policy granting GetSecretValue and DescribeSecret may lack; a secret the
// caller may not read is an entry of the answer's Errors instead).
func batchRefused(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidAction", "UnknownOperationException", "AccessDeniedException":
		return true
	}
	return false
}

// batchVersions asks BatchGetSecretValue, batchSize secrets a call.
func (p *Provider) batchVersions(ctx context.Context, region string, keys []providers.Key, out map[providers.Key]string) error {
	c, _, err := p.load()
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(keys, batchSize) {
		in := &secretsmanager.BatchGetSecretValueInput{}
		for _, k := range chunk {
			in.SecretIdList = append(in.SecretIdList, k.Path)
		}
		pages := secretsmanager.NewBatchGetSecretValuePaginator(c, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx, p.in(region)...)
			if batchRefused(err) {
				return fmt.Errorf("%w: %v", errBatchRefused, classify(err))
			}
			if err != nil {
				return classify(err)
			}
			for _, e := range page.Errors {
				if code := aws.ToString(e.ErrorCode); code != "ResourceNotFoundException" {
					id := aws.ToString(e.SecretId)
					return classify(&smithy.GenericAPIError{Code: code, Message: id + ": " + aws.ToString(e.Message)})
				}
			}
			for _, v := range page.SecretValues {
				for _, k := range chunk {
					if names(k.Path, aws.ToString(v.Name), aws.ToString(v.ARN)) {
						out[k] = aws.ToString(v.VersionId)
					}
				}
			}
		}
	}
	return nil
}

// names reports whether a secret id (a name, a full ARN, or an ARN without
// the six random characters AWS appends) names the secret name with arn.
func names(id, name, arn string) bool {
	return id == name || id == arn ||
		strings.HasPrefix(id, "arn:") && strings.HasPrefix(arn, id+"-") && len(arn) == len(id)+7
}

// describeVersions asks DescribeSecret for each secret, a few at a time.
func (p *Provider) describeVersions(ctx context.Context, region string, keys []providers.Key, out map[providers.Key]string) error {
	c, _, err := p.load()
	if err != nil {
		return err
	}
	versions := make([]string, len(keys))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(describeParallel)
	for i, k := range keys {
		g.Go(func() error {
			d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(k.Path)}, p.in(region)...)
			if err != nil {
				if err = classify(err); errors.Is(err, providers.ErrNotFound) {
					return nil
				}
				return err
			}
			for id, stages := range d.VersionIdsToStages {
				if slices.Contains(stages, "AWSCURRENT") {
					versions[i] = id
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, k := range keys {
		if versions[i] != "" {
			out[k] = versions[i]
		}
	}
	return nil
}
