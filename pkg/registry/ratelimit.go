package registry

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// hostLimiters keeps one rate.Limiter per registry host, and halves a
// host's rate for a while when it answers 429. x/time/rate has neither a
// limiter per key nor a timed restore of a lowered rate: the map and the
// slow period below are those two pieces.
type hostLimiters struct {
	rate        rate.Limit // requests per second; <= 0: unlimited
	burst       int
	throttleFor time.Duration
	now         func() time.Time

	mu    sync.Mutex
	hosts map[string]*hostLimiter
}

type hostLimiter struct {
	*rate.Limiter
	slowUntil time.Time // when the halved rate ends; zero: at the base rate
}

func newHostLimiters(rps float64, burst int, throttleFor time.Duration, now func() time.Time) *hostLimiters {
	return &hostLimiters{
		rate:        rate.Limit(rps),
		burst:       burst,
		throttleFor: throttleFor,
		now:         now,
		hosts:       map[string]*hostLimiter{},
	}
}

// limiter returns host's limiter, back at the base rate when its slow
// period is over at now.
func (l *hostLimiters) limiter(host string, now time.Time) *hostLimiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		h = &hostLimiter{Limiter: rate.NewLimiter(l.rate, l.burst)}
		l.hosts[host] = h
	}
	if !h.slowUntil.IsZero() && !now.Before(h.slowUntil) {
		h.SetLimitAt(now, l.rate)
		h.slowUntil = time.Time{}
	}
	return h
}

// wait blocks until a request to host may go out. The token is reserved at
// once and the caller sleeps for the debt, so waiters are served in order.
func (l *hostLimiters) wait(ctx context.Context, host string) error {
	if l.rate <= 0 {
		return nil
	}
	now := l.now()
	r := l.limiter(host, now).ReserveN(now, 1)
	if err := sleep(ctx, r.DelayFrom(now)); err != nil {
		r.CancelAt(l.now())
		return err
	}
	return nil
}

// throttle halves the rate for host, down to a sixteenth of the base rate,
// for throttleFor: the registry said 429.
func (l *hostLimiters) throttle(host string) {
	if l.rate <= 0 {
		return
	}
	now := l.now()
	h := l.limiter(host, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	h.SetLimitAt(now, max(h.Limit()/2, l.rate/16))
	h.slowUntil = now.Add(l.throttleFor)
}

// currentRate is the rate for host now, for tests.
func (l *hostLimiters) currentRate(host string) float64 {
	if l.rate <= 0 {
		return 0
	}
	return float64(l.limiter(host, l.now()).Limit())
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
