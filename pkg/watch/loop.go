// Package watch is the foreground reconcile loop of `kubectl gitops watch`:
// fetch the source every interval and sync as soon as the head moves, correct
// drift every interval, optionally run image automation, retry transient
// faults with capped exponential backoff, skip revisions that cannot be
// synced, and hold a Lease so that one watcher at a time works on a sync set.
//
// The loop knows nothing of git, Kubernetes objects or cobra: it is
// configured with functions (Loop.Fetch, Loop.Sync, Loop.Images), a Lock and
// a Sink for its events, so that it is tested with fakes and wired for real
// by pkg/cmd/watch. This package also holds the real Lock (Lease) and the
// displays (NewDisplay).
package watch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Lock keeps one watcher per sync set.
type Lock interface {
	// Acquire takes the lock when it is free or expired, or renews it when
	// this watcher holds it. held is false, with the holder's identity,
	// when another watcher holds it.
	Acquire(ctx context.Context) (held bool, holder string, err error)
	// Release gives the lock up if this watcher holds it.
	Release(ctx context.Context) error
	// Identity names this watcher.
	Identity() string
}

// A Lock that is also a changeNotifier tells when what Acquire reports
// changes, so that the loop need not wait for its next attempt to see it.
// An Acquire error wrapping ErrLeaseLost ends the work at once.
type changeNotifier interface {
	Changed() <-chan struct{}
}

// Defaults of a Loop.
const (
	DefaultInterval       = time.Minute
	DefaultImagesInterval = 5 * time.Minute
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultRenewInterval  = 10 * time.Second
	DefaultRenewDeadline  = 20 * time.Second
	DefaultLeaseRetry     = 5 * time.Second
	DefaultReleaseTimeout = 2 * time.Second
)

// Loop is the reconcile loop. Fetch and Sync are required.
type Loop struct {
	// Fetch brings the source up to date and returns the commit at the
	// head of the ref.
	Fetch func(ctx context.Context) (revision string, err error)
	// Sync makes the cluster match revision, writing only what differs.
	// It returns a *BadRevisionError (see IsBadRevision) when the revision
	// cannot be synced as it is; any other error is taken as transient and
	// retried. It fills Report.Previous whenever it could read what the
	// cluster holds, even when it fails.
	Sync func(ctx context.Context, revision string) (Report, error)
	// Images, when set, runs image automation: it commits and pushes the
	// updates it finds and returns the pushed revision, or "" when there
	// was nothing to update. A pushed revision is fetched and synced at
	// once.
	Images func(ctx context.Context) (revision string, err error)
	// Lock, when set, is held while the loop works; without it the loop
	// runs unguarded.
	Lock Lock
	// Events receives what happens; nil discards it.
	Events Sink

	// Interval is the time between fetches and drift checks.
	Interval time.Duration
	// ImagesInterval is the time between runs of Images.
	ImagesInterval time.Duration
	// MaxBackoff caps the wait after a failure, which starts at a second
	// and doubles; the interval of the failing step caps it too.
	MaxBackoff time.Duration
	// RenewInterval is the time between renewals of the lock. When no
	// renewal succeeded for RenewDeadline, the lock is taken as lost: the
	// step under way is cancelled and the loop waits to take it again.
	RenewInterval time.Duration
	RenewDeadline time.Duration
	// LeaseRetry is the time between attempts to take a lock that another
	// watcher holds; 0 means the interval, at most 5s.
	LeaseRetry time.Duration
	// ReleaseTimeout bounds the release of the lock on exit.
	ReleaseTimeout time.Duration
}

// Run runs the loop until ctx is done, then cancels the step under way,
// releases the lock and returns nil. It returns an error only when the loop
// is misconfigured.
func (l *Loop) Run(ctx context.Context) error {
	if l.Fetch == nil || l.Sync == nil {
		return errors.New("watch: Loop.Fetch and Loop.Sync are required")
	}
	r := &run{l: l.withDefaults(), bad: map[string]bool{}}
	r.emit(Event{Type: EventStarted}, nil)
	for ctx.Err() == nil {
		if r.l.Lock != nil && !r.acquire(ctx) {
			break
		}
		r.work(ctx)
	}
	r.release(ctx)
	r.emit(Event{Type: EventStopped}, func(s *Status) { s.Step, s.Next, s.NextImages = "stopped", time.Time{}, time.Time{} })
	return nil
}

func (l *Loop) withDefaults() Loop {
	c := *l
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, DefaultInterval)
	def(&c.ImagesInterval, DefaultImagesInterval)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.RenewInterval, DefaultRenewInterval)
	def(&c.RenewDeadline, DefaultRenewDeadline)
	def(&c.LeaseRetry, min(DefaultLeaseRetry, c.Interval))
	def(&c.ReleaseTimeout, DefaultReleaseTimeout)
	return c
}

// Backoff returns the wait before attempt (1 for the first retry): a
// second, doubling, at most limit.
func Backoff(attempt int, limit time.Duration) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 20)
	return min(d, limit)
}

// run is the state of one Run. The fields below mu are the main goroutine's.
type run struct {
	l Loop

	mu     sync.Mutex // guards status and serializes events
	status Status

	head           string          // the head last fetched
	good           string          // the revision the cluster holds
	bad            map[string]bool // revisions that cannot be synced
	failures       int             // consecutive failed steps
	imagesFailures int
	next           time.Time
	nextImages     time.Time
	everHeld       bool
	synced         bool   // a sync succeeded: the first is always an EventSynced
	held           string // why the set is held still; "" when it is not
}

// emit updates the status with update (if not nil) and sends e with it.
func (r *run) emit(e Event, update func(*Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if update != nil {
		update(&r.status)
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Status = r.status
	if r.status.LastSync != nil {
		rep := *r.status.LastSync
		e.Status.LastSync = &rep
	}
	if r.l.Events != nil {
		r.l.Events.Event(e)
	}
}

func (r *run) progress(step string) {
	r.emit(Event{Type: EventProgress}, func(s *Status) { s.Step = step })
}

// sleep waits for d or until ctx is done, and says whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// acquire waits until the lock is held, and says false when ctx is done
// first.
func (r *run) acquire(ctx context.Context) bool {
	r.progress("taking the lease")
	attempt, last := 0, ""
	for {
		held, holder, err := r.l.Lock.Acquire(ctx)
		if ctx.Err() != nil {
			return false
		}
		wait := r.l.LeaseRetry
		switch {
		case err != nil:
			attempt++
			wait = Backoff(attempt, min(r.l.Interval, r.l.MaxBackoff))
			r.fail(StepLease, fmt.Errorf("taking the lease: %w", err), attempt, wait)
		case held:
			r.everHeld = true
			if attempt > 0 {
				r.emit(Event{Type: EventRecovered, Step: StepLease, Attempt: attempt}, func(s *Status) { s.Failures = 0 })
			}
			r.emit(Event{Type: EventAcquired, Holder: r.l.Lock.Identity()}, func(s *Status) {
				s.Lease, s.Holder, s.Step = "held", r.l.Lock.Identity(), ""
			})
			return true
		default:
			attempt = 0
			if holder != last {
				r.emit(Event{Type: EventWaiting, Holder: holder}, func(s *Status) {
					s.Lease, s.Holder, s.Step = "waiting", holder, "waiting for the lease"
				})
				last = holder
			}
		}
		if !r.sleepLock(ctx, wait) {
			return false
		}
	}
}

// sleepLock is sleep that also ends when the lock says its state changed.
func (r *run) sleepLock(ctx context.Context, d time.Duration) bool {
	n, ok := r.l.Lock.(changeNotifier)
	if !ok {
		return sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-n.Changed():
	}
	return true
}

// leaseLost is the cause of the cancellation of work when the lock is lost.
type leaseLost struct{ err error }

func (e *leaseLost) Error() string { return e.err.Error() }

// renew renews the lock until ctx is done, and cancels ctx with a
// *leaseLost when the lock is taken or cannot be renewed in time.
func (r *run) renew(ctx context.Context, lose context.CancelCauseFunc) {
	last := time.Now()
	wait := r.l.RenewInterval
	for r.sleepLock(ctx, wait) {
		held, holder, err := r.l.Lock.Acquire(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && held:
			last, wait = time.Now(), r.l.RenewInterval
		case err == nil:
			lose(&leaseLost{fmt.Errorf("the lease was taken by %s", holder)})
			return
		case errors.Is(err, ErrLeaseLost):
			lose(&leaseLost{err})
			return
		case time.Since(last) >= r.l.RenewDeadline:
			lose(&leaseLost{fmt.Errorf("the lease could not be renewed for %s: %w", time.Since(last).Round(time.Second), err)})
			return
		default:
			wait = min(2*time.Second, r.l.RenewInterval)
		}
	}
}

// work runs steps until ctx is done or the lock is lost.
func (r *run) work(ctx context.Context) {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	if r.l.Lock != nil {
		wg.Go(func() { r.renew(wctx, cancel) })
	}
	now := time.Now()
	r.next = now
	if r.l.Images != nil && r.nextImages.IsZero() {
		r.nextImages = now
	}
	for {
		due := r.next
		if r.l.Images != nil && r.nextImages.Before(due) {
			due = r.nextImages
		}
		r.emit(Event{Type: EventProgress}, func(s *Status) {
			s.Step, s.Next = "", r.next
			if r.l.Images != nil {
				s.NextImages = r.nextImages
			}
		})
		if !sleep(wctx, time.Until(due)) {
			break
		}
		if !time.Now().Before(r.next) {
			r.step(wctx)
		}
		if wctx.Err() == nil && r.l.Images != nil && !time.Now().Before(r.nextImages) {
			r.images(wctx)
		}
	}
	cancel(nil)
	wg.Wait()
	var lost *leaseLost
	if ctx.Err() == nil && errors.As(context.Cause(wctx), &lost) {
		r.emit(Event{Type: EventLost, Step: StepLease, Err: lost.err}, func(s *Status) {
			s.Lease, s.Step = "lost", ""
		})
	}
}

// step fetches, then syncs the head, or the last good revision when the
// head cannot be synced: a drift check when it is what the cluster holds.
func (r *run) step(ctx context.Context) {
	r.progress("fetching")
	head, fetchErr := r.l.Fetch(ctx)
	if ctx.Err() != nil {
		return
	}
	if fetchErr == nil {
		r.head = head
		r.emit(Event{Type: EventProgress}, func(s *Status) { s.Head, s.HeadBad = head, r.bad[head] })
	}
	// While the source cannot be fetched, the cluster is still kept at
	// what was fetched last.
	target := r.head
	if r.bad[target] {
		target = r.good
	}
	var syncErr error
	if target != "" {
		syncErr = r.sync(ctx, target)
	}
	if ctx.Err() != nil {
		return
	}
	if IsHeld(syncErr) {
		r.hold(syncErr)
		syncErr = nil
	}
	if fetchErr != nil || syncErr != nil {
		r.failures++
		wait := Backoff(r.failures, min(r.l.Interval, r.l.MaxBackoff))
		r.next = time.Now().Add(wait)
		if fetchErr != nil {
			r.fail(StepFetch, fetchErr, r.failures, wait)
		}
		if syncErr != nil {
			r.fail(StepSync, syncErr, r.failures, wait)
		}
		return
	}
	if r.failures > 0 {
		n := r.failures
		r.emit(Event{Type: EventRecovered, Attempt: n}, func(s *Status) { s.Failures = 0 })
		r.failures = 0
	}
	r.next = time.Now().Add(r.l.Interval)
}

// sync syncs target; when target cannot be synced, it is remembered and the
// last good revision is checked instead. It returns transient errors.
func (r *run) sync(ctx context.Context, target string) error {
	rep, err := r.syncOnce(ctx, target)
	if IsHeld(err) {
		return err
	}
	if r.held != "" && ctx.Err() == nil {
		r.held = ""
		r.emit(Event{Type: EventUnheld}, func(s *Status) { s.Held = "" })
	}
	if IsBadRevision(err) {
		r.skip(target, err)
		if r.good == "" || r.good == target {
			return nil
		}
		target = r.good
		if rep, err = r.syncOnce(ctx, target); IsBadRevision(err) {
			r.skip(target, err)
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	now := time.Now()
	if err != nil {
		if rep.Revision != "" {
			r.emit(Event{Type: EventProgress}, func(s *Status) { s.LastSync, s.LastSyncTime, s.LastSyncFailed = &rep, now, true })
		}
		return err
	}
	r.good = target
	typ := EventSynced
	switch {
	case rep.Previous == target && rep.Changed():
		typ = EventCorrected
	case (rep.Previous == target || rep.Checked) && r.synced:
		typ = EventChecked
	}
	r.synced = true
	r.emit(Event{Type: typ, Revision: target, Report: &rep}, func(s *Status) {
		s.Revision, s.LastSync, s.LastSyncTime, s.LastSyncFailed = target, &rep, now, false
		if typ == EventCorrected {
			s.Corrections += rep.Counts.Created + rep.Counts.Configured + rep.Counts.Pruned
			s.LastCorrection = now
		}
	})
	return nil
}

func (r *run) syncOnce(ctx context.Context, target string) (Report, error) {
	r.progress("syncing " + Short(target))
	rep, err := r.l.Sync(ctx, target)
	if rep.Revision == "" {
		rep.Revision = target
	}
	if r.good == "" && rep.Previous != "" && !r.bad[rep.Previous] {
		r.good = rep.Previous
	}
	return rep, err
}

// hold reports that the set is held still, once per reason; the loop
// looks again at its next interval.
func (r *run) hold(err error) {
	var held *HeldError
	errors.As(err, &held)
	reason := held.Err.Error()
	if r.held != reason {
		r.held = reason
		r.emit(Event{Type: EventHeld, Err: held.Err}, func(s *Status) { s.Held = reason })
	}
}

// skip remembers a revision that cannot be synced.
func (r *run) skip(rev string, err error) {
	if len(r.bad) >= 100 {
		clear(r.bad)
	}
	r.bad[rev] = true
	if r.good == rev {
		r.good = ""
	}
	r.emit(Event{Type: EventBadRevision, Revision: rev, Err: err}, func(s *Status) { s.HeadBad = r.bad[s.Head] })
}

// images runs image automation; a pushed revision is synced at once.
func (r *run) images(ctx context.Context) {
	r.progress("running image automation")
	rev, err := r.l.Images(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		r.imagesFailures++
		wait := Backoff(r.imagesFailures, min(r.l.ImagesInterval, r.l.MaxBackoff))
		r.nextImages = time.Now().Add(wait)
		r.fail(StepImages, err, r.imagesFailures, wait)
		return
	}
	if r.imagesFailures > 0 {
		n := r.imagesFailures
		r.emit(Event{Type: EventRecovered, Step: StepImages, Attempt: n}, nil)
		r.imagesFailures = 0
	}
	r.nextImages = time.Now().Add(r.l.ImagesInterval)
	if rev != "" {
		r.emit(Event{Type: EventImages, Revision: rev}, nil)
		r.next = time.Now()
	}
}

func (r *run) fail(step string, err error, attempt int, wait time.Duration) {
	r.emit(Event{Type: EventFailed, Step: step, Err: err, Attempt: attempt, RetryIn: wait}, func(s *Status) {
		s.LastError, s.LastErrorTime, s.Failures = step+": "+err.Error(), time.Now(), attempt
	})
}

// release gives the lock up on exit, within ReleaseTimeout.
func (r *run) release(ctx context.Context) {
	if r.l.Lock == nil || !r.everHeld {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.l.ReleaseTimeout)
	defer cancel()
	if err := r.l.Lock.Release(rctx); err != nil {
		r.fail(StepLease, fmt.Errorf("releasing the lease: %w; another watcher takes over once it expires", err), 1, 0)
		return
	}
	r.emit(Event{Type: EventReleased}, func(s *Status) { s.Lease = "" })
}
