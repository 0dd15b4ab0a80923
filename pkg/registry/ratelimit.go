package registry

import (
	"context"
	"sync"
	"time"
)

// hostLimiters keeps one token bucket per registry host.
type hostLimiters struct {
	rate        float64 // requests per second; <= 0: unlimited
	burst       float64
	throttleFor time.Duration
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

func newHostLimiters(rate float64, burst int, throttleFor time.Duration, now func() time.Time) *hostLimiters {
	return &hostLimiters{
		rate:        rate,
		burst:       float64(burst),
		throttleFor: throttleFor,
		now:         now,
		buckets:     map[string]*bucket{},
	}
}

func (l *hostLimiters) bucket(host string) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[host]
	if b == nil {
		b = &bucket{base: l.rate, rate: l.rate, burst: l.burst, tokens: l.burst, last: l.now(), now: l.now, throttleFor: l.throttleFor}
		l.buckets[host] = b
	}
	return b
}

// wait blocks until a request to host may go out.
func (l *hostLimiters) wait(ctx context.Context, host string) error {
	if l.rate <= 0 {
		return nil
	}
	return l.bucket(host).wait(ctx)
}

// throttle halves the rate for host for a while: the registry said 429.
func (l *hostLimiters) throttle(host string) {
	if l.rate <= 0 {
		return
	}
	l.bucket(host).throttle()
}

// currentRate is the rate for host now, for tests.
func (l *hostLimiters) currentRate(host string) float64 {
	if l.rate <= 0 {
		return 0
	}
	b := l.bucket(host)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restore(b.now())
	return b.rate
}

// bucket is a token bucket. Tokens may go negative: a caller reserves its
// token at once and sleeps for the debt, so waiters are served in order.
type bucket struct {
	mu          sync.Mutex
	base, rate  float64
	burst       float64
	tokens      float64
	last        time.Time
	slowUntil   time.Time
	throttleFor time.Duration
	now         func() time.Time
}

func (b *bucket) wait(ctx context.Context) error {
	b.mu.Lock()
	now := b.now()
	b.restore(now)
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	return sleep(ctx, d)
}

// restore goes back to the base rate when the slow period is over.
func (b *bucket) restore(now time.Time) {
	if !b.slowUntil.IsZero() && !now.Before(b.slowUntil) {
		b.rate = b.base
		b.slowUntil = time.Time{}
	}
}

func (b *bucket) throttle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.restore(now)
	// Settle the tokens earned at the old rate before changing it.
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.rate = max(b.rate/2, b.base/16)
	b.slowUntil = now.Add(b.throttleFor)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
