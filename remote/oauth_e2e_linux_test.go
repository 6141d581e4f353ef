package remote_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcp-secrets/mcp-secrets/internal/testenv"
)

const (
	clientID      = "mcp-e2e-client"
	clientSecretA = "cs-A-7d6c5b4a3f2e1d0c"
	clientSecretB = "cs-B-1a2b3c4d5e6f7a8b"
)

// The real binary with OAuth client credentials against an authorization
// server started by the test: the token endpoint found from the 401's RFC
// 9728 metadata and the server's RFC 8414 metadata, tokens for the remote
// as RFC 8707 resource, renewed before they expire and once the client
// secret rotates, in the same client session.
func TestConnectOAuth(t *testing.T) {
	w := newConnectWorld(t)
	const life = 2 * time.Second
	as := testenv.OAuth(t, clientID, clientSecretA, life)
	remote := testenv.Remote(t, testenv.RemoteOptions{OAuth: as})
	w.writeEnv("CLIENT_SECRET=" + clientSecretA + "\n")
	cmd := w.command(nil, "--debounce", "50ms", "--debounce-max", "200ms",
		"--oauth-client-id", clientID, "--oauth-client-secret", "$<dotenv:CLIENT_SECRET>", remote.URL)
	cs := connect(t, cmd, "") // the SDK default: server/discover, then initialize
	if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "hi"}); err != nil || got != "Echo: hi" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	if n := as.Issued.Load(); n != 1 {
		t.Errorf("%d access tokens issued, want 1", n)
	}

	// Renewed before it expires: no request is refused.
	start := time.Now()
	testenv.WaitFor(t, "a renewed access token", 5*life, func() bool {
		if _, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "x"}); err != nil {
			t.Fatalf("echo while the token renews: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		return as.Issued.Load() >= 2
	})
	if d := time.Since(start); d > life {
		t.Errorf("the token was renewed after %v, past its life %v", d, life)
	}
	if n := remote.Refused("tools/call"); n != 0 {
		t.Errorf("%d calls refused: the token is renewed before it expires", n)
	}

	// The secret rotates at the authorization server (which revokes the
	// tokens got with the old one), then in the store.
	issued := as.Issued.Load()
	as.SetSecret(clientSecretB)
	w.writeEnv("CLIENT_SECRET=" + clientSecretB + "\n")
	testenv.WaitFor(t, "the new client secret", 10*time.Second, func() bool { return strings.Contains(w.stderr.String(), "new values") })
	if got, err := testenv.CallTool(t, cs, "echo", map[string]any{"message": "after"}); err != nil || got != "Echo: after" {
		t.Fatalf("echo after the secret rotated: %q, %v", got, err)
	}
	if as.Issued.Load() == issued {
		t.Error("no access token was got with the new client secret")
	}
	for i, r := range as.Resources() {
		if r != remote.URL {
			t.Errorf("token request %d: resource %q, want %q (RFC 8707)", i, r, remote.URL)
		}
	}
	for _, s := range []string{clientSecretA, clientSecretB} {
		if strings.Contains(w.stderr.String(), s) {
			t.Error("a client secret reached the launcher's stderr")
		}
	}
}

// A client secret the authorization server refuses ends connect before
// the client's first request: one line on stderr, exit code 77 (access
// denied); the control, the right secret, gets past it.
func TestConnectOAuthWrongSecret(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		code         int
	}{
		{"wrong", "cs-wrong-0f0e0d0c0b0a", 77},
		{"right", clientSecretA, -1}, // still serving when its stdin is kept open: killed by the timeout
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newConnectWorld(t)
			as := testenv.OAuth(t, clientID, clientSecretA, time.Hour)
			remote := testenv.Remote(t, testenv.RemoteOptions{OAuth: as})
			w.writeEnv("CLIENT_SECRET=" + tc.secret + "\n")
			cmd := w.command(nil, "--oauth-client-id", clientID, "--oauth-client-secret", "$<dotenv:CLIENT_SECRET>", remote.URL)
			cmd.Stderr = nil
			if tc.code < 0 {
				// The right secret: connect gets its token and waits for the
				// client, which never comes.
				cmd.Stdin = blockingStdin(t)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				testenv.WaitFor(t, "the access token", 10*time.Second, func() bool { return as.Issued.Load() == 1 })
				cmd.Process.Kill()
				cmd.Wait()
				return
			}
			_, stderr, code := testenv.Run(t, cmd)
			t.Logf("exit %d: %s", code, stderr)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != tc.code || len(lines) != 1 || !strings.Contains(stderr, "refused the client credentials") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and one line naming the refusal", code, stderr, tc.code)
			}
			if strings.Contains(stderr, tc.secret) {
				t.Error("the client secret is in the error")
			}
		})
	}
}

// blockingStdin is a stdin that stays open until the test ends.
func blockingStdin(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r
}
