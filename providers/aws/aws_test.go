package aws_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
	awsprovider "github.com/mcp-secrets/mcp-secrets/providers/aws"
)

// env is an injected environment.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// envOf turns KEY=VALUE pairs into an env, plus extra pairs.
func envOf(kvs []string, extra ...string) env {
	e := env{}
	for _, kv := range append(kvs, extra...) {
		k, v, _ := strings.Cut(kv, "=")
		e[k] = v
	}
	return e
}

// fixture is a kumo server, a proxy in front of it, and a provider that
// talks to the proxy.
type fixture struct {
	kumo   *testenv.KumoServer
	proxy  *testenv.KumoProxy
	p      *awsprovider.Provider
	prefix string // of every secret name this test creates: kumo's store is shared by the whole process
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	k := testenv.Kumo(t)
	px := k.Proxy(t)
	return &fixture{
		kumo:   k,
		proxy:  px,
		p:      awsprovider.New(awsprovider.Options{Getenv: envOf(px.Env()).get}),
		prefix: k.Prefix,
	}
}

// create makes a secret holding value (string) or bin (binary) and returns
// its ARN and VersionId.
func (f *fixture) create(t testing.TB, name, value string, bin []byte) (arn, version string) {
	t.Helper()
	in := &secretsmanager.CreateSecretInput{Name: aws.String(f.prefix + name)}
	if bin != nil {
		in.SecretBinary = bin
	} else {
		in.SecretString = aws.String(value)
	}
	out, err := f.kumo.SecretsManager.CreateSecret(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	return aws.ToString(out.ARN), aws.ToString(out.VersionId)
}

// put stores a new AWSCURRENT value and returns its VersionId.
func (f *fixture) put(t testing.TB, name, value string) string {
	t.Helper()
	out, err := f.kumo.SecretsManager.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(f.prefix + name), SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("PutSecretValue %s: %v", name, err)
	}
	return aws.ToString(out.VersionId)
}

// resolve resolves variables through the real resolver with f.p as "aws".
func (f *fixture) resolve(t testing.TB, vars ...providers.Var) ([]providers.Resolved, error) {
	t.Helper()
	r := &providers.Resolver{
		Providers: map[string]providers.Provider{"aws": f.p},
		Fallback:  providers.FallbackOff,
		Timeout:   10 * time.Second,
	}
	return r.Resolve(context.Background(), vars)
}

// TestResolve covers what only Secrets Manager has: ARNs, staging labels
// and binary secrets (TestSuite covers the rest).
func TestResolve(t *testing.T) {
	f := newFixture(t)
	arn, v1 := f.create(t, "db", `{"user":"app","password":"s3cr3t-pw"}`, nil)
	v2 := f.put(t, "db", `{"user":"app","password":"n3w-pw"}`)
	_, binVersion := f.create(t, "cert", "", []byte{0xff, 'k', 'e', 'y', 0x80})
	db, cert := f.prefix+"db", f.prefix+"cert"
	partial := strings.TrimSuffix(arn, arn[len(arn)-7:]) // the ARN without AWS's random suffix

	for _, tc := range []struct {
		name, ref, want, version string
	}{
		{"full ARN and field", "$<aws:" + arn + "#user>", "app", v2},
		{"partial ARN", "$<aws:" + partial + "#user>", "app", v2},
		{"stage AWSCURRENT", "$<aws:" + db + "?stage=AWSCURRENT#password>", "n3w-pw", v2},
		// After two puts kumo's AWSPREVIOUS is right; after a third it
		// stays on several versions (TESTING.md).
		{"stage AWSPREVIOUS", "$<aws:" + db + "?stage=AWSPREVIOUS#password>", "s3cr3t-pw", v1},
		{"ARN, version and stage", "$<aws:" + arn + "?version=" + v1 + "&stage=AWSPREVIOUS#password>", "s3cr3t-pw", v1},
		{"binary", "$<aws:" + cert + ">", "\xffkey\x80", binVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.resolve(t, providers.Var{Name: "V", Value: tc.ref})
			if err != nil {
				t.Fatal(err)
			}
			if got := res[0].Value.Reveal(); got != tc.want {
				t.Errorf("value = %q, want %q", got, tc.want)
			}
			for _, src := range res[0].Sources {
				if src.Version != tc.version {
					t.Errorf("version = %q, want %q", src.Version, tc.version)
				}
			}
		})
	}
}

// TestErrors checks the kind of each failure only Secrets Manager has, and
// that no message carries a value (TestSuite covers not found, denied and
// unreachable; denied is here for the count of its calls).
func TestErrors(t *testing.T) {
	f := newFixture(t)
	const value = "do-not-print-this-value"
	f.create(t, "locked", value, nil)
	f.create(t, "kms", value, nil)
	f.create(t, "expired", value, nil)
	f.create(t, "broken", value, nil)
	f.create(t, "json", `{"password":"`+value+`"}`, nil)
	f.create(t, "nul", "", []byte(value+"\x00"))
	f.proxy.Fail(f.prefix+"locked", testenv.FaultDenied)
	f.proxy.Fail(f.prefix+"kms", testenv.Fault{Status: 400, Code: "DecryptionFailure"})
	f.proxy.Fail(f.prefix+"expired", testenv.Fault{Status: 400, Code: "ExpiredTokenException"})
	f.proxy.Fail(f.prefix+"broken", testenv.FaultInternal)

	for _, tc := range []struct {
		name string
		env  env // nil: the fixture's provider
		ref  string
		kind error
		msg  string // a part of the message
	}{
		{name: "access denied", ref: "locked", kind: providers.ErrDenied, msg: "AccessDeniedException"},
		{name: "KMS decrypt denied", ref: "kms", kind: providers.ErrDenied, msg: "DecryptionFailure"},
		{name: "expired token", ref: "expired", kind: providers.ErrDenied, msg: "ExpiredTokenException"},
		{name: "5xx after retries", ref: "broken", kind: providers.ErrUnavailable, msg: "InternalServiceError"},
		// No environment can carry it: an error before anything starts.
		{name: "a NUL byte", ref: "nul", kind: providers.ErrMalformed, msg: "the value holds a NUL byte"},
		{name: "not an ARN of a secret", ref: "arn:aws:s3:::bucket", kind: providers.ErrConfig, msg: "not a Secrets Manager secret ARN"},
		{
			name: "no region", env: env{"AWS_ENDPOINT_URL": f.proxy.URL, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
			ref: "json", kind: providers.ErrConfig, msg: "no AWS region",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.HasPrefix(tc.ref, "arn:") {
				tc.ref = f.prefix + tc.ref
			}
			p := f.p
			if tc.env != nil {
				p = awsprovider.New(awsprovider.Options{Getenv: tc.env.get})
			}
			r := &providers.Resolver{Providers: map[string]providers.Provider{"aws": p}, Timeout: 10 * time.Second}
			_, err := r.Resolve(context.Background(), []providers.Var{{Name: "V", Value: "$<aws:" + tc.ref + ">"}})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.msg) || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want one line containing %q", msg, tc.msg)
			}
			if strings.Contains(msg, value) {
				t.Errorf("message %q carries the secret's value", msg)
			}
			t.Log(msg)
		})
	}
	if n := f.proxy.SecretCalls("GetSecretValue", f.prefix+"locked"); n != 1 {
		t.Errorf("access denied was asked %d times, want 1 (not retried)", n)
	}
	if n := f.proxy.SecretCalls("GetSecretValue", f.prefix+"broken"); n != 3 {
		t.Errorf("a 500 was asked %d times, want 3 (the SDK's standard retries)", n)
	}
}

func TestThrottlingRetried(t *testing.T) {
	f := newFixture(t)
	_, version := f.create(t, "busy", "value-after-throttling", nil)
	throttled := testenv.FaultThrottled
	throttled.Times = 2
	f.proxy.Fail(f.prefix+"busy", throttled)
	s, err := f.p.Fetch(context.Background(), providers.Ref{Provider: "aws", Path: f.prefix + "busy"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Reveal() != "value-after-throttling" || s.Version != version {
		t.Errorf("got %q version %q", s.Reveal(), s.Version)
	}
	if n := f.proxy.SecretCalls("GetSecretValue", f.prefix+"busy"); n != 3 {
		t.Errorf("GetSecretValue called %d times, want 3 (2 throttled, 1 answered)", n)
	}
}

// TestTimeout checks that the resolver's per-fetch timeout bounds a fetch
// the server never answers.
func TestTimeout(t *testing.T) {
	f := newFixture(t)
	f.proxy.Fail("GetSecretValue", testenv.FaultThrottled) // every attempt, with backoff between
	r := &providers.Resolver{Providers: map[string]providers.Provider{"aws": f.p}, Timeout: 300 * time.Millisecond}
	begin := time.Now()
	_, err := r.Resolve(context.Background(), []providers.Var{{Name: "V", Value: "$<aws:" + f.prefix + "slow>"}})
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("took %v with a 300ms timeout", took)
	}
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("err = %v, want unavailable", err)
	}
}

// TestManySecretsFetchedOnce resolves 100 references to 100 secrets.
func TestManySecretsFetchedOnce(t *testing.T) {
	f := newFixture(t)
	var vars []providers.Var
	for i := range 100 {
		f.create(t, fmt.Sprint("s", i), fmt.Sprint("value-", i), nil)
		vars = append(vars, providers.Var{Name: fmt.Sprint("V", i), Value: fmt.Sprintf("$<aws:%ss%d>", f.prefix, i)})
	}
	res, err := f.resolve(t, vars...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if got, want := r.Value.Reveal(), fmt.Sprint("value-", i); got != want {
			t.Errorf("%s = %q, want %q", r.Name, got, want)
		}
		if n := f.proxy.SecretCalls("GetSecretValue", fmt.Sprintf("%ss%d", f.prefix, i)); n != 1 {
			t.Errorf("secret %d fetched %d times", i, n)
		}
	}
	if n := f.proxy.Calls("GetSecretValue"); n != 100 {
		t.Errorf("%d GetSecretValue calls, want 100", n)
	}
}

// TestManyFieldsOneCall resolves 100 references to fields of one secret.
func TestManyFieldsOneCall(t *testing.T) {
	f := newFixture(t)
	var b strings.Builder
	var vars []providers.Var
	b.WriteString("{")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":"value-%d"`, i, i)
		vars = append(vars, providers.Var{Name: fmt.Sprint("V", i), Value: fmt.Sprintf("$<aws:%sapp#k%d>", f.prefix, i)})
	}
	b.WriteString("}")
	f.create(t, "app", b.String(), nil)
	res, err := f.resolve(t, vars...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if got, want := r.Value.Reveal(), fmt.Sprint("value-", i); got != want {
			t.Errorf("%s = %q, want %q", r.Name, got, want)
		}
	}
	if n := f.proxy.Calls("GetSecretValue"); n != 1 {
		t.Errorf("%d GetSecretValue calls, want 1", n)
	}
}

func TestConfigured(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte("[default]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[default]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty-home")
	for _, tc := range []struct {
		name string
		env  env
		want bool
	}{
		{"nothing", env{"HOME": empty}, false},
		{"no HOME", env{}, false},
		{"static keys", env{"HOME": empty, "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "x"}, true},
		{"profile", env{"HOME": empty, "AWS_PROFILE": "dev"}, true},
		{"web identity", env{"HOME": empty, "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"}, true},
		{"ECS task role", env{"HOME": empty, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"}, true},
		{"region (EC2, Lambda)", env{"HOME": empty, "AWS_REGION": "us-east-1"}, true},
		{"default region", env{"HOME": empty, "AWS_DEFAULT_REGION": "us-east-1"}, true},
		{"~/.aws/credentials", env{"HOME": home}, true},
		{"AWS_CONFIG_FILE", env{"HOME": empty, "AWS_CONFIG_FILE": cfgFile}, true},
		{"AWS_CONFIG_FILE missing", env{"HOME": empty, "AWS_CONFIG_FILE": filepath.Join(dir, "nope")}, false},
		{"AWS_SHARED_CREDENTIALS_FILE elsewhere", env{"HOME": home, "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "nope")}, false},
		{"endpoint alone", env{"HOME": empty, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := awsprovider.New(awsprovider.Options{Getenv: tc.env.get})
			if got := p.Configured(); got != tc.want {
				t.Errorf("Configured() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestProfiles checks that profiles from the injected environment's shared
// files are used: their keys sign the requests, and an SSO profile without
// a login is refused as a credentials problem, without a network call.
func TestProfiles(t *testing.T) {
	f := newFixture(t)
	f.create(t, "p", "profile-value", nil)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(creds, []byte("[dev]\naws_access_key_id = AKIDPROFILEDEV\naws_secret_access_key = s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(`[profile dev]
region = us-east-1
[profile sso]
region = us-east-1
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = Reader
`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := env{
		"HOME": dir, "AWS_ENDPOINT_URL": f.proxy.URL, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": cfg, "AWS_SHARED_CREDENTIALS_FILE": creds,
	}
	with := func(k, v string) env {
		e := env{k: v}
		for k, v := range base {
			e[k] = v
		}
		return e
	}
	ref := providers.Ref{Provider: "aws", Path: f.prefix + "p"}

	p := awsprovider.New(awsprovider.Options{Getenv: with("AWS_PROFILE", "dev").get})
	if s, err := p.Fetch(context.Background(), ref); err != nil || s.Reveal() != "profile-value" {
		t.Fatalf("profile dev: %q, %v", s.Reveal(), err)
	}
	if keys := f.proxy.AccessKeys(); len(keys) != 1 || keys[0] != "AKIDPROFILEDEV" {
		t.Errorf("requests signed by %v, want the profile's key AKIDPROFILEDEV", keys)
	}

	p = awsprovider.New(awsprovider.Options{Getenv: with("AWS_PROFILE", "sso").get})
	_, err := p.Fetch(context.Background(), ref)
	if !errors.Is(err, providers.ErrDenied) || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("SSO profile without login: %v, want access denied naming credentials", err)
	}

	p = awsprovider.New(awsprovider.Options{Getenv: with("AWS_PROFILE", "nope").get})
	if _, err := p.Fetch(context.Background(), ref); !errors.Is(err, providers.ErrConfig) {
		t.Errorf("unknown profile: %v, want a configuration error", err)
	}
}

// TestARNWithoutRegion fetches by full ARN with no region configured: the
// ARN's region is used.
func TestARNWithoutRegion(t *testing.T) {
	f := newFixture(t)
	arn, _ := f.create(t, "arn-only", "arn-value", nil)
	p := awsprovider.New(awsprovider.Options{Getenv: env{
		"AWS_ENDPOINT_URL": f.proxy.URL, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
	}.get})
	s, err := p.Fetch(context.Background(), providers.Ref{Provider: "aws", Path: arn})
	if err != nil || s.Reveal() != "arn-value" {
		t.Fatalf("got %q, %v", s.Reveal(), err)
	}
}
