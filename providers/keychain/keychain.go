// Package keychain answers $<keychain:SERVICE/ACCOUNT[#field]> from the OS
// keychain, through github.com/zalando/go-keyring: the macOS Keychain, the
// Secret Service of a Linux desktop session (GNOME Keyring, KeePassXC,
// KWallet) over D-Bus, the Windows Credential Manager. It is what a
// developer uses instead of a plaintext .env on a laptop.
//
// SERVICE is everything before the last "/" (it may hold slashes, as
// URL-like service names do) and ACCOUNT the rest; on Linux they are the
// item's "service" and "username" attributes, as `secret-tool store
// --label=L service SERVICE username ACCOUNT` writes them. #field reads a key
// of an item that holds a JSON object (what mcp-secrets wrap stores).
//
// go-keyring's calls take no context and can block forever (a desktop
// unlock prompt nobody answers): every call here is bounded, and on Linux
// the session bus is never launched, only found (DBUS_SESSION_BUS_ADDRESS,
// else $XDG_RUNTIME_DIR/bus or /run/user/UID/bus).
package keychain

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/zalando/go-keyring"
	"golang.org/x/sync/errgroup"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// Options configure a Provider.
type Options struct {
	// Log receives why the keychain counts as not configured; nil discards it.
	Log *slog.Logger
}

// Provider reads and writes keychain items. New makes no call: the keychain
// (on Linux, D-Bus) is reached only when a reference to it is resolved or
// Configured is asked.
type Provider struct {
	log       *slog.Logger
	digestKey []byte // keys the digests Versions reports: a digest of a weak value must not reveal it
	// slots holds one token per call in flight, abandoned ones included:
	// calls stuck on a prompt cannot pile up past maxCalls.
	slots chan struct{}

	probe      sync.Once
	configured bool
}

var (
	_ providers.Configurer    = (*Provider)(nil)
	_ providers.VersionLister = (*Provider)(nil)
	_ providers.Writer        = (*Provider)(nil)
	_ providers.ValueSetter   = (*Provider)(nil)
)

const (
	// maxCalls bounds the keychain calls in flight: enough for a config's
	// references in one round, few enough that a stuck keychain costs
	// little.
	maxCalls = 8
	// callTimeout bounds every call whatever its context says.
	callTimeout = 30 * time.Second
	// probeTimeout bounds Configured's question to the session bus.
	probeTimeout = 5 * time.Second
)

// New returns a provider.
func New(o Options) *Provider {
	p := &Provider{log: o.Log, digestKey: make([]byte, 32), slots: make(chan struct{}, maxCalls)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	rand.Read(p.digestKey) // never fails (crypto/rand panics instead)
	return p
}

// Configured reports whether the keychain answers here: on Linux, whether a
// session bus is found and a Secret Service is on it (or can be started by
// it); on macOS and Windows it always is. A missing item is no reason to
// fall back: only a machine without a keychain (a CI container) does. The
// answer is asked once and kept.
func (p *Provider) Configured() bool {
	p.probe.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		err := p.call(ctx, serviceUp)
		if err != nil {
			p.log.Debug("keychain not reachable", "provider", "keychain", "err", err)
		}
		p.configured = err == nil
	})
	return p.configured
}

// Fetch reads the item ref names (its Field is ignored: the resolver applies
// it to the JSON object the item holds).
func (p *Provider) Fetch(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	if ref.Version != "" || ref.Stage != "" {
		return providers.Secret{}, providers.Errorf(providers.ErrConfig, "the keychain keeps no versions: drop ?version= and ?stage=")
	}
	v, err := p.get(ctx, ref.Path)
	if err != nil {
		return providers.Secret{}, err
	}
	return providers.NewSecret(v, ""), nil
}

// Versions reports a keyed digest of each item's value: the keychain has no
// version ids, and its modification times have whole-second resolution.
// Items that are gone are absent. A locked keychain is an error without an
// unlock prompt: a poll in the background must not open one every interval
// (a resolution, when the user starts a server, may). ctx bounds the whole
// call.
func (p *Provider) Versions(ctx context.Context, keys []providers.Key) (map[providers.Key]string, error) {
	if err := p.call(ctx, unlocked); err != nil {
		return nil, describe(err)
	}
	var mu sync.Mutex
	out := make(map[providers.Key]string, len(keys))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(maxCalls)
	for _, k := range keys {
		g.Go(func() error {
			v, err := p.get(ctx, k.Path)
			switch {
			case errors.Is(err, providers.ErrNotFound):
				return nil
			case err != nil:
				return fmt.Errorf("%s: %w", k, err)
			}
			mac := hmac.New(sha256.New, p.digestKey)
			mac.Write([]byte(v))
			mu.Lock()
			out[k] = "hmac-sha256:" + hex.EncodeToString(mac.Sum(nil))
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// Put stores values as the item name (SERVICE/ACCOUNT), a JSON object, for
// mcp-secrets wrap; an item that exists is replaced.
func (p *Provider) Put(ctx context.Context, name string, values map[string]string) error {
	b, err := json.Marshal(values)
	if err != nil {
		return err // strings always encode
	}
	return p.SetValue(ctx, name, string(b))
}

// SetValue stores value as the item path (SERVICE/ACCOUNT), for mcp-secrets
// set; an item that exists is replaced.
func (p *Provider) SetValue(ctx context.Context, path, value string) error {
	service, account, err := split(path)
	if err != nil {
		return err
	}
	err = p.call(ctx, func() error { return keyring.Set(service, account, value) })
	if err != nil {
		return describe(err)
	}
	return nil
}

func (p *Provider) get(ctx context.Context, path string) (string, error) {
	service, account, err := split(path)
	if err != nil {
		return "", err
	}
	var v string
	err = p.call(ctx, func() error {
		var err error
		v, err = keyring.Get(service, account)
		return err
	})
	if errors.Is(err, keyring.ErrNotFound) {
		return "", fmt.Errorf("%w: no item with service %q and account %q", providers.ErrNotFound, service, account)
	}
	if err != nil {
		return "", describe(err)
	}
	return v, nil
}

// call runs f, a keychain call that cannot be interrupted, bounded by ctx
// and callTimeout. A call that does not return in time is abandoned (it
// holds its slot until it does). On Linux a session bus must be found first:
// go-keyring would otherwise launch one, and its calls then hang.
func (p *Provider) call(ctx context.Context, f func() error) error {
	if err := findBus(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return timedOut(ctx, "every keychain call is still waiting for an answer")
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-p.slots }()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return timedOut(ctx, "no answer from the keychain (an unlock prompt may be waiting)")
	}
}

func timedOut(ctx context.Context, why string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%w: canceled", providers.ErrUnavailable)
	}
	return fmt.Errorf("%w: timed out: %s", providers.ErrUnavailable, why)
}

// split reads SERVICE/ACCOUNT: the account is what follows the last "/".
func split(path string) (service, account string, err error) {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 || i == len(path)-1 {
		return "", "", providers.Errorf(providers.ErrConfig, "%q: want SERVICE/ACCOUNT", path)
	}
	return path[:i], path[i+1:], nil
}

// describe turns an error of go-keyring or the bus into one line of the
// kind the user sees. Errors this package made have their kind already.
func describe(err error) error {
	for _, kind := range []error{providers.ErrUnavailable, providers.ErrConfig} {
		if errors.Is(err, kind) {
			return err
		}
	}
	if errors.Is(err, keyring.ErrSetDataTooBig) {
		return providers.Errorf(providers.ErrConfig, "the value is too large for this keychain (Windows keeps at most 2,560 bytes)")
	}
	kind, reason := platformError(err)
	return fmt.Errorf("%w: %s", kind, strings.Join(strings.Fields(reason), " "))
}
