package injector

import (
	"bytes"
	"sync"
	"testing"
	"testing/synctest"
)

// gatedWriter blocks every write until released: a client that does not
// read.
type gatedWriter struct {
	open    chan struct{}
	mu      sync.Mutex
	written int
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	<-w.open
	w.mu.Lock()
	w.written += len(p)
	w.mu.Unlock()
	return len(p), nil
}

// A feeder waits while its queue holds queueLimit bytes, and goes on once
// the reader takes them: memory is bounded by backpressure, never by
// dropping bytes.
func TestQueueBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &gatedWriter{open: make(chan struct{})}
		var wg sync.WaitGroup
		q := newOutQueue(w, false, nil, &wg)
		quit := make(chan struct{})
		fed := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			for fed < 3*queueLimit {
				if !q.waitRoom(quit, nil) {
					return
				}
				q.push(make([]byte, 1<<20))
				fed += 1 << 20
			}
		}()
		synctest.Wait()
		if fed > queueLimit+(1<<20) {
			t.Fatalf("the feeder pushed %d bytes into a queue nobody reads; the limit is %d", fed, queueLimit)
		}
		if fed < queueLimit {
			t.Fatalf("the feeder stopped at %d bytes, before the limit", fed)
		}
		close(w.open) // the client reads again
		<-done
		q.close()
		wg.Wait()
		if w.written != 3*queueLimit {
			t.Errorf("%d bytes written, want %d", w.written, 3*queueLimit)
		}
	})
}

// Feeding lines in any chunks gives the lines of a one-shot split; a line
// over the limit is dropped whole, with its head given to tooLong, and no
// more than the limit is ever held.
func FuzzLines(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), uint8(3), uint8(4))
	f.Add([]byte("0123456789\nab\n"), uint8(1), uint8(5))
	f.Fuzz(func(t *testing.T, in []byte, chunk, max uint8) {
		step, limit := int(chunk)+1, int(max)+1
		var want []string
		for rest := in; ; {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			if i <= limit {
				want = append(want, string(rest[:i+1]))
			}
			rest = rest[i+1:]
		}
		var got []string
		var b lines
		for i := 0; i < len(in); i += step {
			b.feed(in[i:min(i+step, len(in))], limit, func(l []byte) { got = append(got, string(l)) }, func(head []byte) {
				if len(head) == 0 {
					t.Fatal("tooLong with no head")
				}
			})
			if b.n > limit {
				t.Fatalf("holding %d bytes, limit %d", b.n, limit)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("lines %q, want %q", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("lines %q, want %q", got, want)
			}
		}
	})
}
