package aws_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// TestVersions polls 45 secrets (3 batches of at most 20), one by full ARN,
// plus one that does not exist, both ways: BatchGetSecretValue served by the
// proxy, and DescribeSecret where kumo answers BatchGetSecretValue with
// InvalidAction.
func TestVersions(t *testing.T) {
	for _, tc := range []struct {
		name          string
		batch         bool
		first, second map[string]int // calls per operation in the first and second poll
	}{
		{"BatchGetSecretValue", true,
			map[string]int{"BatchGetSecretValue": 3, "DescribeSecret": 0, "GetSecretValue": 0},
			map[string]int{"BatchGetSecretValue": 3, "DescribeSecret": 0, "GetSecretValue": 0}},
		{"DescribeSecret", false,
			map[string]int{"BatchGetSecretValue": 1, "DescribeSecret": 46, "GetSecretValue": 0},
			map[string]int{"BatchGetSecretValue": 0, "DescribeSecret": 46, "GetSecretValue": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if !tc.batch {
				f.proxy.DisableBatch()
			}
			want := map[providers.Key]string{}
			var keys []providers.Key
			for i := range 45 {
				arn, v := f.create(t, fmt.Sprint("s", i), fmt.Sprint("value-", i), nil)
				k := providers.Key{Provider: "aws", Path: f.prefix + fmt.Sprint("s", i)}
				if i == 44 {
					k.Path = arn
				}
				keys, want[k] = append(keys, k), v
			}
			keys = append(keys, providers.Key{Provider: "aws", Path: f.prefix + "missing"})

			poll := func(calls map[string]int) {
				t.Helper()
				f.proxy.Reset()
				got, err := f.p.Versions(context.Background(), keys)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Errorf("got %d versions, want %d", len(got), len(want))
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("%s: version %q, want %q", k, got[k], v)
					}
				}
				for op, n := range calls {
					if c := f.proxy.Calls(op); c != n {
						t.Errorf("%d %s calls, want %d", c, op, n)
					}
				}
			}
			poll(tc.first)
			want[keys[7]] = f.put(t, "s7", "rotated")
			want[keys[44]] = f.put(t, "s44", "rotated")
			poll(tc.second)
		})
	}
}

// TestVersionsFailures checks the errors of a poll, and which of them turn
// BatchGetSecretValue off.
func TestVersionsFailures(t *testing.T) {
	f := newFixture(t)
	_, v := f.create(t, "a", "value-a", nil)
	f.create(t, "b", "value-b", nil)
	keys := []providers.Key{{Provider: "aws", Path: f.prefix + "a"}, {Provider: "aws", Path: f.prefix + "b"}}
	versions := func() (map[providers.Key]string, error) {
		t.Helper()
		f.proxy.Reset()
		got, err := f.p.Versions(context.Background(), keys)
		if err != nil && strings.Contains(err.Error(), "value-") {
			t.Errorf("error %q carries a secret's value", err)
		}
		return got, err
	}

	// A secret the caller may not read is an error, as is throttling that
	// outlasts the retries; neither turns the batch off.
	f.proxy.Fail(f.prefix+"b", testenv.FaultDenied)
	if _, err := versions(); !errors.Is(err, providers.ErrDenied) {
		t.Errorf("denied secret: err = %v, want access denied", err)
	}
	f.proxy.Fail("BatchGetSecretValue", testenv.FaultThrottled)
	if _, err := versions(); !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("throttled: err = %v, want unavailable", err)
	}
	f.proxy.Heal("BatchGetSecretValue")
	f.proxy.Heal(f.prefix + "b")
	if _, err := versions(); err != nil || f.proxy.Calls("BatchGetSecretValue") != 1 {
		t.Errorf("after the faults: err %v, %d BatchGetSecretValue calls, want 1", err, f.proxy.Calls("BatchGetSecretValue"))
	}

	// A caller that may not call BatchGetSecretValue at all polls with
	// DescribeSecret from then on.
	f.proxy.Fail("BatchGetSecretValue", testenv.FaultDenied)
	for range 2 {
		got, err := versions()
		if err != nil || got[keys[0]] != v {
			t.Fatalf("got %v, %v", got, err)
		}
		if d := f.proxy.Calls("DescribeSecret"); d != 2 {
			t.Errorf("%d DescribeSecret calls, want 2", d)
		}
	}
	if b := f.proxy.Calls("BatchGetSecretValue"); b != 0 {
		t.Errorf("BatchGetSecretValue asked again (%d) after it was refused", b)
	}

	// DescribeSecret failures are the poll's error.
	f.proxy.Fail(f.prefix+"a", testenv.FaultDenied)
	if _, err := versions(); !errors.Is(err, providers.ErrDenied) {
		t.Errorf("DescribeSecret denied: err = %v, want access denied", err)
	}
}
