package watch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// The tests run in synctest bubbles: time is virtual, and advances when
// every goroutine of the bubble is blocked, so a test sleeps through minutes
// of backoff in no time and sees exact waits.

// world is a fake source and cluster.
type world struct {
	mu       sync.Mutex
	start    time.Time
	head     string
	fetchErr error
	// cluster is the revision the cluster holds; drift makes the next
	// sync of it correct objects.
	cluster string
	drift   int
	bad     map[string]bool
	syncErr error
	// block makes Sync wait until its context is done.
	block bool

	fetches []time.Duration
	syncs   []syncCall
}

type syncCall struct {
	at       time.Duration
	revision string
}

func newWorld(head string) *world {
	return &world{start: time.Now(), head: head, bad: map[string]bool{}}
}

func (w *world) set(f func(w *world)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w)
}

func (w *world) fetch(ctx context.Context) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fetches = append(w.fetches, time.Since(w.start))
	return w.head, w.fetchErr
}

func (w *world) sync(ctx context.Context, rev string) (Report, error) {
	w.mu.Lock()
	w.syncs = append(w.syncs, syncCall{time.Since(w.start), rev})
	block := w.block
	w.mu.Unlock()
	if block {
		<-ctx.Done()
		return Report{}, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	rep := Report{Revision: rev, Previous: w.cluster, Counts: applyset.Counts{Unchanged: 3}}
	switch {
	case w.bad[rev]:
		return rep, &BadRevisionError{Revision: rev, Err: errors.New("a.yaml:3: yaml: mapping values are not allowed here")}
	case w.syncErr != nil:
		return rep, w.syncErr
	case rev == w.cluster && w.drift > 0:
		rep.Counts = applyset.Counts{Created: w.drift, Unchanged: 3}
		rep.Changes = []string{"ConfigMap/ns/a created"}
		w.drift = 0
	case rev == w.cluster:
		rep.Checked = true
	default:
		rep.Counts = applyset.Counts{Configured: 1, Unchanged: 2}
	}
	w.cluster = rev
	return rep, nil
}

func (w *world) syncedRevisions() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var revs []string
	for _, s := range w.syncs {
		revs = append(revs, s.revision)
	}
	return revs
}

func (w *world) fetchTimes() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.fetches)
}

// recorder keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) of(types ...EventType) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if slices.Contains(types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) last() Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[len(r.events)-1]
}

// start runs the loop in the bubble and returns a function that stops it
// and checks that Run returned nil.
func start(t *testing.T, l *Loop) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	synctest.Wait()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	}
}

func types(events []Event) []EventType {
	var out []EventType
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

func TestWatchSyncsWhenTheHeadMovesAndChecksEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Interval: time.Minute})

		time.Sleep(90 * time.Second) // steps at 0s and 60s
		w.set(func(w *world) { w.head = "b" })
		time.Sleep(time.Minute) // the step at 120s sees b
		synctest.Wait()
		stop()

		if got, want := w.syncedRevisions(), []string{"a", "a", "b"}; !slices.Equal(got, want) {
			t.Errorf("synced %v, want %v", got, want)
		}
		if got, want := w.fetchTimes(), []time.Duration{0, time.Minute, 2 * time.Minute}; !slices.Equal(got, want) {
			t.Errorf("fetched at %v, want %v", got, want)
		}
		got := types(rec.of(EventSynced, EventChecked, EventCorrected, EventStopped))
		if want := []EventType{EventSynced, EventChecked, EventSynced, EventStopped}; !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
		if st := rec.last().Status; st.Revision != "b" || st.LastSync == nil || st.LastSync.Counts.Configured != 1 {
			t.Errorf("final status %+v", st)
		}
	})
}

func TestWatchDriftIsCorrectedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Interval: 10 * time.Second})
		w.set(func(w *world) { w.drift = 2 })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		stop()

		corrected := rec.of(EventCorrected)
		if len(corrected) != 1 || corrected[0].Report.Changes[0] != "ConfigMap/ns/a created" {
			t.Fatalf("corrected events: %+v", corrected)
		}
		if st := rec.last().Status; st.Corrections != 2 || st.LastCorrection.IsZero() {
			t.Errorf("status: %d corrections at %v, want 2", st.Corrections, st.LastCorrection)
		}
	})
}

func TestWatchTransientFailuresBackOffAndRecover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		w.fetchErr = errors.New("git remote unreachable")
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Interval: 10 * time.Second})

		time.Sleep(40 * time.Second)
		w.set(func(w *world) { w.fetchErr = nil })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		stop()

		// 1s, 2s, 4s, 8s, then capped by the 10s interval.
		want := []time.Duration{0, 1, 3, 7, 15, 25, 35, 45}
		for i := range want {
			want[i] *= time.Second
		}
		got := w.fetchTimes()
		if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
			t.Fatalf("fetched at %v, want %v then every 10s", got, want)
		}
		failed := rec.of(EventFailed)
		if len(failed) != 7 || failed[3].RetryIn != 8*time.Second || failed[4].RetryIn != 10*time.Second || failed[6].Attempt != 7 || failed[0].Step != StepFetch {
			t.Errorf("failures: %+v", failed)
		}
		recovered := rec.of(EventRecovered)
		if len(recovered) != 1 || recovered[0].Attempt != 7 || recovered[0].Status.Failures != 0 {
			t.Errorf("recovered: %+v", recovered)
		}
		// Without a fetched head there is nothing to sync; the first sync
		// follows the recovery.
		if revs := w.syncedRevisions(); len(revs) == 0 || revs[0] != "a" {
			t.Errorf("synced %v", revs)
		}
	})
}

func TestWatchDriftIsStillCorrectedWhileTheRemoteIsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Interval: 10 * time.Second})
		w.set(func(w *world) { w.fetchErr, w.drift = errors.New("remote gone"), 1 })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		stop()
		if got := w.syncedRevisions(); !slices.Equal(got, []string{"a", "a"}) {
			t.Errorf("synced %v, want a twice", got)
		}
		if len(rec.of(EventCorrected)) != 1 || len(rec.of(EventFailed)) != 1 {
			t.Errorf("events %v, want a correction and a failure", types(rec.of(EventCorrected, EventFailed)))
		}
	})
}

func TestWatchSyncFailuresAreRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		w.syncErr = errors.New("connection refused")
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Interval: time.Hour, MaxBackoff: 5 * time.Second})
		time.Sleep(20 * time.Second)
		w.set(func(w *world) { w.syncErr = nil })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		stop()
		// 0, 1, 3, 7, 12, 17, 22 (capped at MaxBackoff), then success at 27.
		// Failures at 0, 1, 3, 7, 12, 17 (capped by MaxBackoff), then success at 22.
		if n := len(w.syncedRevisions()); n != 7 {
			t.Errorf("%d syncs, want 7: %v", n, w.syncs)
		}
		failed := rec.of(EventFailed)
		if len(failed) != 6 || failed[0].Step != StepSync || failed[0].Status.LastError != "sync: connection refused" || failed[5].RetryIn != 5*time.Second {
			t.Errorf("failures %+v", failed)
		}
		if len(rec.of(EventSynced)) != 1 {
			t.Errorf("want one sync after recovery: %v", types(rec.events))
		}
	})
}

func TestWatchBadRevisionIsSkippedUntilTheHeadMoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("good")
		w.bad["bad"] = true
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Interval: 10 * time.Second})

		w.set(func(w *world) { w.head = "bad" })
		time.Sleep(35 * time.Second) // steps at 10, 20, 30
		w.set(func(w *world) { w.head, w.drift = "fixed", 0 })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		stop()

		// The bad revision is tried once; the cluster is then checked at the
		// last good revision every interval.
		want := []string{"good", "bad", "good", "good", "good", "fixed"}
		if got := w.syncedRevisions(); !slices.Equal(got, want) {
			t.Errorf("synced %v, want %v", got, want)
		}
		bad := rec.of(EventBadRevision)
		if len(bad) != 1 || bad[0].Revision != "bad" || !IsBadRevision(bad[0].Err) {
			t.Fatalf("bad revision events: %+v", bad)
		}
		if st := bad[0].Status; !st.HeadBad || st.Revision != "good" {
			t.Errorf("status after the bad revision: %+v", st)
		}
		if len(rec.of(EventFailed)) != 0 {
			t.Errorf("a bad revision is not a failure to retry: %v", rec.of(EventFailed))
		}
		if st := rec.last().Status; st.Revision != "fixed" || st.HeadBad {
			t.Errorf("final status %+v", st)
		}
	})
}

func TestWatchBadHeadAtStartKeepsTheRecordedRevision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("bad")
		w.bad["bad"] = true
		w.cluster, w.drift = "old", 1
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Interval: 10 * time.Second})
		stop()
		if got := w.syncedRevisions(); !slices.Equal(got, []string{"bad", "old"}) {
			t.Errorf("synced %v, want the bad head, then the revision the record names", got)
		}
		if len(rec.of(EventCorrected)) != 1 {
			t.Errorf("drift at the recorded revision was not corrected: %v", types(rec.events))
		}
	})
}

func TestWatchCancelStopsTheStepUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		w.block = true
		lock := &fakeLock{}
		rec := &recorder{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- (&Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Lock: lock}).Run(ctx) }()
		synctest.Wait()
		if len(w.syncedRevisions()) != 1 {
			t.Fatal("the sync did not start")
		}
		begin := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if d := time.Since(begin); d > 0 {
			t.Errorf("Run took %s to return after the cancel", d)
		}
		if !lock.isReleased() {
			t.Error("the lock was not released")
		}
		if len(rec.of(EventFailed)) != 0 {
			t.Errorf("the cancelled step was reported as a failure: %v", rec.of(EventFailed))
		}
		if got := types(rec.of(EventReleased, EventStopped)); !slices.Equal(got, []EventType{EventReleased, EventStopped}) {
			t.Errorf("events at the end: %v", got)
		}
	})
}

// fakeLock is held by "other" for the first busy calls; fail makes calls
// fail from then on.
type fakeLock struct {
	mu       sync.Mutex
	busy     int
	fail     error
	calls    []time.Duration
	released bool
	start    time.Time
}

func (l *fakeLock) Acquire(ctx context.Context) (bool, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = time.Now()
	}
	l.calls = append(l.calls, time.Since(l.start))
	if l.fail != nil {
		return false, "", l.fail
	}
	if l.busy > 0 {
		l.busy--
		return false, "other@host/1", nil
	}
	return true, "me@host/2", nil
}

func (l *fakeLock) Release(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = true
	return nil
}

func (l *fakeLock) Identity() string { return "me@host/2" }

func (l *fakeLock) isReleased() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released
}

func (l *fakeLock) set(f func(l *fakeLock)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

func TestWatchASecondWatcherWaitsForTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		lock := &fakeLock{busy: 3}
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Lock: lock, Interval: time.Minute})
		time.Sleep(14 * time.Second)
		if n := len(w.syncedRevisions()); n != 0 {
			t.Fatalf("synced %d times without the lease", n)
		}
		time.Sleep(time.Second) // attempts at 0, 5, 10 are refused; 15 takes it
		synctest.Wait()
		stop()

		waiting := rec.of(EventWaiting)
		if len(waiting) != 1 || waiting[0].Holder != "other@host/1" || waiting[0].Status.Lease != "waiting" {
			t.Errorf("waiting events (one per holder): %+v", waiting)
		}
		acquired := rec.of(EventAcquired)
		if len(acquired) != 1 || acquired[0].Time.Sub(waiting[0].Time) != 15*time.Second {
			t.Errorf("acquired: %+v", acquired)
		}
		if len(w.syncedRevisions()) != 1 {
			t.Errorf("synced %v after taking the lease", w.syncedRevisions())
		}
	})
}

func TestWatchLosingTheLeaseStopsWorkUntilItIsRetaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		lock := &fakeLock{}
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Lock: lock, Interval: 5 * time.Second})
		lock.set(func(l *fakeLock) { l.fail = errors.New("connection refused") })
		time.Sleep(31 * time.Second) // renewals fail from 10s; lost at 20s (the deadline)
		synctest.Wait()
		lost := rec.of(EventLost)
		if len(lost) != 1 {
			t.Fatalf("lost events: %v", types(rec.events))
		}
		n := len(w.syncedRevisions())
		time.Sleep(20 * time.Second)
		if m := len(w.syncedRevisions()); m != n {
			t.Errorf("synced %d times after losing the lease", m-n)
		}
		lock.set(func(l *fakeLock) { l.fail = nil })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		stop()
		if len(rec.of(EventAcquired)) != 2 || len(w.syncedRevisions()) == n {
			t.Errorf("the lease was not retaken and work did not resume: %v", types(rec.events))
		}
	})
}

func TestWatchImagesCommitIsSyncedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		var mu sync.Mutex
		runs := 0
		images := func(ctx context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			runs++
			switch runs {
			case 2:
				return "", errors.New("registry: 503")
			case 3:
				w.set(func(w *world) { w.head = "img" })
				return "img", nil
			}
			return "", nil
		}
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Images: images, Events: rec, Interval: time.Hour, ImagesInterval: 5 * time.Minute})
		time.Sleep(5*time.Minute + time.Second) // runs at 0 and 5m (fails), 5m+1s (pushes img)
		synctest.Wait()
		stop()
		if got := w.syncedRevisions(); !slices.Equal(got, []string{"a", "img"}) {
			t.Errorf("synced %v, want a, then img at once", got)
		}
		if f := rec.of(EventFailed); len(f) != 1 || f[0].Step != StepImages || f[0].RetryIn != time.Second {
			t.Errorf("images failure: %+v", f)
		}
		if e := rec.of(EventImages); len(e) != 1 || e[0].Revision != "img" {
			t.Errorf("images events: %+v", e)
		}
	})
}

func TestWatchBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		limit   time.Duration
		want    time.Duration
	}{
		{1, time.Minute, time.Second},
		{2, time.Minute, 2 * time.Second},
		{6, time.Minute, 32 * time.Second},
		{7, time.Minute, time.Minute},
		{100, 5 * time.Minute, 5 * time.Minute},
		{1, 500 * time.Millisecond, 500 * time.Millisecond},
	} {
		if got := Backoff(tc.attempt, tc.limit); got != tc.want {
			t.Errorf("Backoff(%d, %s) = %s, want %s", tc.attempt, tc.limit, got, tc.want)
		}
	}
}

func TestWatchMisconfiguredLoop(t *testing.T) {
	if err := (&Loop{}).Run(t.Context()); err == nil {
		t.Fatal("a loop without Fetch and Sync ran")
	}
}

func ExampleBackoff() {
	for attempt := 1; attempt <= 8; attempt++ {
		fmt.Print(Backoff(attempt, time.Minute), " ")
	}
	// Output: 1s 2s 4s 8s 16s 32s 1m0s 1m0s
}

func TestWatchLeaseErrorsAreRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		lock := &fakeLock{fail: errors.New("connection refused")}
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Lock: lock, Interval: time.Minute})
		time.Sleep(5 * time.Second) // attempts at 0, 1, 3
		lock.set(func(l *fakeLock) { l.fail = nil })
		time.Sleep(3 * time.Second) // the attempt at 7 takes it
		synctest.Wait()
		stop()
		failed := rec.of(EventFailed)
		if len(failed) != 3 || failed[2].Step != StepLease || failed[2].RetryIn != 4*time.Second {
			t.Fatalf("failures: %+v", failed)
		}
		if r := rec.of(EventRecovered); len(r) != 1 || r[0].Step != StepLease || r[0].Status.Failures != 0 {
			t.Errorf("recovered: %+v", r)
		}
		if acquired := rec.of(EventAcquired); len(acquired) != 1 || acquired[0].Time.Sub(w.start) != 7*time.Second {
			t.Errorf("acquired: %+v", acquired)
		}
		if len(w.syncedRevisions()) != 1 {
			t.Errorf("synced %v", w.syncedRevisions())
		}
	})
}
