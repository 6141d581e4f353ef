package rotation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcp-secrets/mcp-secrets/launch"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

// store is a fake at the one-method seams the watcher uses: it lists
// versions, renews leases, and is the provider the fake resolver reads.
type store struct {
	mu       sync.Mutex
	value    string
	version  int
	down     bool
	polls    int
	renewTTL func(n int) (time.Duration, error) // the n-th renewal's answer
	renews   int
	leaseTTL time.Duration
	leases   int // leases handed out
	fetches  int
}

func (s *store) set(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v != s.value {
		s.value = v
		s.version++
	}
}

func (s *store) Versions(_ context.Context, keys []providers.Key) (map[providers.Key]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	if s.down {
		return nil, fmt.Errorf("%w: connection refused", providers.ErrUnavailable)
	}
	m := map[providers.Key]string{}
	for _, k := range keys {
		m[k] = fmt.Sprint(s.version)
	}
	return m, nil
}

func (s *store) Renew(_ context.Context, l providers.Lease) (providers.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renews++
	ttl, err := s.renewTTL(s.renews)
	l.TTL = ttl
	return l, err
}

// resolve is the fake resolution: one variable from the store.
func (s *store) resolve(context.Context) (*launch.Resolution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	if s.down {
		return nil, fmt.Errorf("%w: connection refused", providers.ErrUnavailable)
	}
	src := providers.Source{Ref: providers.Ref{Provider: "fake", Path: "db"}, Provider: "fake", Version: fmt.Sprint(s.version)}
	if s.leaseTTL > 0 {
		s.leases++
		src.Lease = providers.Lease{ID: fmt.Sprintf("lease-%d", s.leases), TTL: s.leaseTTL, Renewable: true}
		src.Version = ""
	}
	return &launch.Resolution{
		Launch:   launch.Launch{Argv: []string{"server"}, Env: []string{"DB=" + s.value}},
		Resolved: []providers.Resolved{{Name: "DB", Value: providers.NewSecret(s.value, ""), Sources: []providers.Source{src}}},
	}, nil
}

type harness struct {
	w       *Watcher
	updates chan launch.Launch
	log     *bytes.Buffer
	got     []launch.Launch
	mu      sync.Mutex
}

// watch runs a watcher over s in the synctest bubble until the test ends.
func watch(t *testing.T, s *store, p providers.Provider, interval time.Duration) *harness {
	h := &harness{updates: make(chan launch.Launch), log: &bytes.Buffer{}}
	h.w = &Watcher{
		Resolve:     s.resolve,
		Providers:   map[string]providers.Provider{"fake": p},
		Cache:       &Cache{},
		Interval:    interval,
		Debounce:    500 * time.Millisecond,
		DebounceMax: 5 * time.Second,
		Log:         slog.New(slog.NewTextHandler(&syncWriter{w: h.log, mu: &h.mu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Updates:     h.updates,
	}
	first, err := s.resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.w.Run(ctx, first)
	}()
	go func() {
		for l := range h.updates {
			h.mu.Lock()
			h.got = append(h.got, l)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done // Run returns only once every source it started has stopped
		close(h.updates)
	})
	return h
}

func (h *harness) restarts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var envs []string
	for _, l := range h.got {
		envs = append(envs, strings.Join(l.Env, ","))
	}
	return envs
}

func (h *harness) logged() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

type versioned struct {
	*store
	providers.Provider
}

func TestChangeRestartsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{value: "v0"}
		h := watch(t, s, versioned{store: s}, 20*time.Millisecond)
		// Fifty changes in one second.
		for i := range 50 {
			s.set(fmt.Sprint("v", i+1))
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := h.restarts(); len(got) != 1 || got[0] != "DB=v50" {
			t.Errorf("restarts = %q, want one with DB=v50", got)
		}
	})
}

func TestNoRestartWithoutRealChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{value: "same"}
		h := watch(t, s, versioned{store: s}, time.Second)
		// A new version with the same value: resolved again, not restarted.
		s.mu.Lock()
		s.version++
		s.mu.Unlock()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := h.restarts(); len(got) != 0 {
			t.Errorf("restarts = %q, want none", got)
		}
		if !strings.Contains(h.logged(), "no change in the child's environment") {
			t.Errorf("log:\n%s", h.logged())
		}
	})
}

func TestDebounceMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{value: "v0"}
		h := watch(t, s, versioned{store: s}, 100*time.Millisecond)
		start := time.Now()
		// A change every 200ms, for 20s: quiescence never comes.
		var firstRestart time.Duration
		for i := range 100 {
			s.set(fmt.Sprint("v", i+1))
			time.Sleep(200 * time.Millisecond)
			if firstRestart == 0 && len(h.restarts()) > 0 {
				firstRestart = time.Since(start)
			}
		}
		synctest.Wait()
		if firstRestart == 0 || firstRestart > 6*time.Second {
			t.Errorf("first restart after %v, want within debounce-max (5s) of the first change", firstRestart)
		}
		if n := len(h.restarts()); n < 3 || n > 6 {
			t.Errorf("%d restarts in 20s of changes, want about one per 5s", n)
		}
	})
}

func TestStoreDownKeepsValuesAndBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{value: "v0"}
		h := watch(t, s, versioned{store: s}, time.Second)
		time.Sleep(1500 * time.Millisecond)
		s.mu.Lock()
		s.down = true
		pollsBefore := s.polls
		s.mu.Unlock()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		s.mu.Lock()
		polls := s.polls - pollsBefore
		s.down = false
		s.mu.Unlock()
		// Backoff doubles from 1s up to 10s: 2+4+8+10+... over 5 minutes.
		if polls < 25 || polls > 35 {
			t.Errorf("%d polls in 5 minutes down, want the capped backoff's ~30", polls)
		}
		if len(h.restarts()) != 0 {
			t.Errorf("restarted while the store was down")
		}
		if n := strings.Count(h.logged(), "provider degraded"); n != 1 {
			t.Errorf("degraded logged %d times, want once:\n%s", n, h.logged())
		}
		// Back: seen within the cap, and a later change is picked up.
		time.Sleep(11 * time.Second)
		s.set("v1")
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := strings.Count(h.logged(), "provider recovered"); n != 1 {
			t.Errorf("recovered logged %d times, want once", n)
		}
		if got := h.restarts(); len(got) != 1 || got[0] != "DB=v1" {
			t.Errorf("restarts = %q, want one with DB=v1", got)
		}
	})
}

func TestResolveFailureKeepsChildAndRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{value: "v0"}
		h := watch(t, s, versioned{store: s}, time.Second)
		s.set("v1")
		time.Sleep(1100 * time.Millisecond) // the poll sees it
		s.mu.Lock()
		s.down = true // and the store goes down before the fetch
		s.mu.Unlock()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if len(h.restarts()) != 0 {
			t.Fatalf("restarted without values")
		}
		if n := strings.Count(h.logged(), "resolving after a change failed"); n != 1 {
			t.Errorf("failure logged %d times, want once", n)
		}
		s.mu.Lock()
		s.down = false
		s.mu.Unlock()
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if got := h.restarts(); len(got) != 1 || got[0] != "DB=v1" {
			t.Errorf("restarts = %q, want one with DB=v1 once the store is back", got)
		}
	})
}

func TestLeaseRenewedThenReplacedBeforeMaxTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// TTL 30s, max TTL 60s: renewals at ~20s and ~40s; the second is
		// granted only the 20s left, so the secret is fetched again before
		// the lease ends at 60s.
		start := time.Now()
		s := &store{value: "creds-1", leaseTTL: 30 * time.Second}
		s.renewTTL = func(n int) (time.Duration, error) {
			left := 60*time.Second - time.Since(start)
			return min(30*time.Second, left), nil
		}
		h := watch(t, s, renewer{s}, time.Hour)
		time.Sleep(10 * time.Second)
		s.set("creds-2") // what the next lease will hold
		time.Sleep(45 * time.Second)
		synctest.Wait()
		got := h.restarts()
		if len(got) != 1 || got[0] != "DB=creds-2" {
			t.Fatalf("restarts = %q, want one with the new lease's creds", got)
		}
		s.mu.Lock()
		renews := s.renews
		s.mu.Unlock()
		if renews != 2 {
			t.Errorf("%d renewals, want 2", renews)
		}
		if !strings.Contains(h.logged(), "lease near its maximum TTL") || !strings.Contains(h.logged(), "lease renewed") {
			t.Errorf("log:\n%s", h.logged())
		}
	})
}

func TestLeaseRenewalRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{value: "creds-1", leaseTTL: 30 * time.Second}
		s.renewTTL = func(int) (time.Duration, error) {
			return 0, fmt.Errorf("%w: lease not found", providers.ErrNotFound)
		}
		h := watch(t, s, renewer{s}, time.Hour)
		s.set("creds-2")
		time.Sleep(21 * time.Second)
		synctest.Wait()
		if got := h.restarts(); len(got) != 1 || got[0] != "DB=creds-2" {
			t.Errorf("restarts = %q, want one after the refused renewal", got)
		}
	})
}

// renewer exposes only Renew, as a store of leased secrets does.
type renewer struct{ s *store }

func (r renewer) Renew(ctx context.Context, l providers.Lease) (providers.Lease, error) {
	return r.s.Renew(ctx, l)
}
func (r renewer) Fetch(context.Context, providers.Ref) (providers.Secret, error) {
	return providers.Secret{}, errors.New("not used")
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		interval time.Duration
		n        int
		want     time.Duration
	}{
		{time.Second, 1, 2 * time.Second},
		{time.Second, 3, 8 * time.Second},
		{time.Second, 4, 10 * time.Second},
		{time.Second, 40, 10 * time.Second},
		{60 * time.Second, 1, 120 * time.Second},
		{60 * time.Second, 5, 120 * time.Second},
	}
	for _, tt := range tests {
		if got := retry(tt.interval).Delay(tt.n); got != tt.want {
			t.Errorf("retry(%v).Delay(%d) = %v, want %v", tt.interval, tt.n, got, tt.want)
		}
	}
}
