package watch

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// A held set (suspended, waiting for a dependency) is not a failure: the
// loop says so once per reason, does not back off, looks again at each
// interval, and syncs again once the hold ends.
func TestWatchLeavesAHeldSetAloneAndPicksUpAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("a")
		suspended := &HeldError{Err: errors.New(`sync set "web" is suspended`)}
		w.syncErr = suspended
		rec := &recorder{}
		stop := start(t, &Loop{Fetch: w.fetch, Sync: w.sync, Events: rec, Interval: 10 * time.Second})

		time.Sleep(25 * time.Second) // steps at 0s, 10s, 20s: held each time
		w.set(func(w *world) { w.head = "b" })
		time.Sleep(10 * time.Second) // 30s: the head moved, still held
		w.set(func(w *world) {
			w.syncErr = &HeldError{Err: errors.New(`sync set "web" depends on "db", which is not ready`)}
		})
		time.Sleep(10 * time.Second) // 40s: held for another reason
		w.set(func(w *world) { w.syncErr = nil })
		time.Sleep(10 * time.Second) // 50s: resumed, syncs b
		synctest.Wait()
		stop()

		if got, want := w.fetchTimes(), []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second, 50 * time.Second}; !slices.Equal(got, want) {
			t.Errorf("fetched at %v, want every interval (no backoff) %v", got, want)
		}
		if len(rec.of(EventFailed)) != 0 {
			t.Errorf("a held set was reported as failed: %+v", rec.of(EventFailed))
		}
		held := rec.of(EventHeld)
		if len(held) != 2 || !strings.Contains(held[0].Err.Error(), "suspended") || !strings.Contains(held[1].Err.Error(), `"db"`) {
			t.Fatalf("held events %+v, want one per reason", held)
		}
		if got, want := types(rec.of(EventHeld, EventUnheld, EventSynced)), []EventType{EventHeld, EventHeld, EventUnheld, EventSynced}; !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
		if st := rec.last().Status; st.Revision != "b" || st.Held != "" || st.Failures != 0 {
			t.Errorf("final status: revision %q, held %q, failures %d", st.Revision, st.Held, st.Failures)
		}
		if synced := rec.of(EventSynced); synced[0].Revision != "b" {
			t.Errorf("synced %q after the hold, want the head b", synced[0].Revision)
		}
	})
}

func TestDisplayShowsAHold(t *testing.T) {
	var out strings.Builder
	d := NewDisplay(DisplayOptions{Set: "web", Interval: time.Minute, Format: FormatText, Out: &out})
	d.Event(Event{Type: EventHeld, Err: errors.New(`sync set "web" is suspended (by alice)`), Status: Status{Held: "suspended"}})
	d.Close()
	if !strings.Contains(out.String(), `not syncing, looking again every 1m0s: sync set "web" is suspended (by alice)`) {
		t.Errorf("log line %q", out.String())
	}
	if lines := d.statusLines(time.Now()); !strings.Contains(lines[0], "held: suspended") {
		t.Errorf("status block %q", lines[0])
	}
}
