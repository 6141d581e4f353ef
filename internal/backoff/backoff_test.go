package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	p := Policy{First: 2 * time.Second, Max: time.Minute}
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 5: 32 * time.Second, 6: time.Minute, 100: time.Minute} {
		if got := p.Delay(n); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
	if got := (Policy{First: time.Minute, Max: time.Second}).Delay(1); got != time.Second {
		t.Errorf("a first pause over the cap: %v", got)
	}
}
