package testenv

// Start times observed on the 2-core dev machine (kumo v0.33.1 in-process):
// STARTTIMES_KUMO

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/sivchari/kumo"
)

// KumoRegion is the region Kumo's client and Env use.
const KumoRegion = "us-east-1"

// KumoServer is an in-process kumo AWS emulator owned by one test. kumo does
// no authentication: any access key works.
type KumoServer struct {
	URL            string                 // http://127.0.0.1:PORT
	SecretsManager *secretsmanager.Client // for the test side to create and put secrets

	srv *kumo.Server
}

// Kumo starts the emulator on a random 127.0.0.1 port; cleanup closes it.
func Kumo(t testing.TB) *KumoServer {
	t.Helper()
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
	t.Logf("testenv: kumo at %s ready in %v", srv.URL, time.Since(begin).Round(time.Microsecond))
	return &KumoServer{URL: srv.URL, SecretsManager: sm, srv: srv}
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
