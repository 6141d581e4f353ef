package testenv

// Start times observed on the 2-core machine (kumo v0.33.1 in-process, load
// average 6-7): 3-22 ms, client included.

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/sivchari/kumo"
)

// KumoRegion is the region Kumo's client and Env use.
const KumoRegion = "us-east-1"

// KumoServer is an in-process kumo AWS emulator owned by one test. kumo does
// no authentication: any access key works.
//
// Every kumo server in one process shares one store: kumo creates its
// services once, in init(), and NewServer only adds a listener. So tests of a
// package see each other's secrets (ListSecrets, which ignores Filters,
// returns them all) and collide on names. Name each secret with Name (or
// Prefix); cleanup force-deletes the secrets under Prefix.
type KumoServer struct {
	URL            string                 // http://127.0.0.1:PORT
	SecretsManager *secretsmanager.Client // for the test side to create and put secrets
	Prefix         string                 // unique to this server, ends in "/"

	srv *kumo.Server
}

// Kumo starts the emulator on a random 127.0.0.1 port; cleanup deletes the
// secrets named under Prefix and closes it.
func Kumo(t testing.TB) *KumoServer {
	t.Helper()
	if dir := os.Getenv("KUMO_DATA_DIR"); dir != "" {
		// kumo read it at init and would write every secret to that dir.
		t.Fatalf("testenv: KUMO_DATA_DIR=%s is set: the in-process kumo would persist test secrets there; unset it", dir)
	}
	begin := time.Now()
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	// Built from options rather than config.LoadDefaultConfig, so the test
	// process's AWS_PROFILE, shared config files or IMDS cannot take part.
	sm := secretsmanager.New(secretsmanager.Options{
		Region:       KumoRegion,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	k := &KumoServer{URL: srv.URL, SecretsManager: sm, Prefix: kumoPrefix(t.Name()), srv: srv}
	t.Cleanup(func() {
		if err := k.purge(context.Background()); err != nil {
			t.Errorf("testenv: kumo: delete this test's secrets: %v", err)
		}
	})
	t.Logf("testenv: kumo at %s ready in %v", srv.URL, time.Since(begin).Round(time.Microsecond))
	return k
}

// Name returns name under this server's Prefix, e.g. "TestX-1a2b3c4d/app/db".
func (k *KumoServer) Name(name string) string { return k.Prefix + name }

// kumoPrefix makes a prefix from the test name (readable in failures) and a
// random part (unique across -count runs and parallel tests of one name),
// keeping only characters Secrets Manager allows in names.
func kumoPrefix(testName string) string {
	clean := strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("/_+=.@-", r)) {
			return r
		}
		return '_'
	}, testName)
	return clean + "-" + randomHex()[:8] + "/"
}

// purge force-deletes the secrets under Prefix: a plain delete would only
// schedule deletion and keep the name taken.
func (k *KumoServer) purge(ctx context.Context) error {
	var names []string
	in := &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)}
	for {
		out, err := k.SecretsManager.ListSecrets(ctx, in)
		if err != nil {
			return err
		}
		for _, s := range out.SecretList {
			if name := aws.ToString(s.Name); strings.HasPrefix(name, k.Prefix) {
				names = append(names, name)
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	for _, name := range names {
		if _, err := k.SecretsManager.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
			SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true),
		}); err != nil {
			return err
		}
	}
	return nil
}

// Env returns the variables that point an AWS SDK in a child process at the
// emulator. Append them after the parent's environment so they win.
func (k *KumoServer) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + k.URL,
		"AWS_REGION=" + KumoRegion,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true", // never wait on an IMDS that is not there
	}
}
