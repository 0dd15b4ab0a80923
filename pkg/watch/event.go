package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// Report is what one Sync did.
type Report struct {
	// Revision is the commit that was synced.
	Revision string
	// Subject is the first line of its commit message.
	Subject string
	// Previous is the revision the cluster held before, as the set's
	// record said: the last revision that synced without error. When it
	// equals Revision, every change the run made corrected drift. Sync
	// fills it whenever it could read the record, even when it fails.
	Previous string
	// Counts tally what the run did to the set's objects.
	Counts applyset.Counts
	// Changes name the objects created, configured or pruned, as
	// "Kind/namespace/name action".
	Changes []string
	// Checked says that the run only looked: it found nothing that
	// differs from the revision, and wrote nothing.
	Checked  bool
	Duration time.Duration
}

// Changed says whether the run changed anything in the cluster.
func (r Report) Changed() bool {
	return r.Counts.Created+r.Counts.Configured+r.Counts.Pruned > 0
}

// BadRevisionError says that a revision cannot be synced as it is: its
// manifests do not render or do not validate (invalid YAML, an unknown kind,
// an object defined twice). Trying again gives the same answer, so the loop
// does not try the revision again until the head moves; the cluster keeps the
// last good revision.
type BadRevisionError struct {
	Revision string
	Err      error
}

func (e *BadRevisionError) Error() string {
	return fmt.Sprintf("revision %s cannot be synced: %v", Short(e.Revision), e.Err)
}

func (e *BadRevisionError) Unwrap() error { return e.Err }

// HeldError says that the set is held still: suspended, or waiting for a
// set it depends on. The loop does not sync it, says so once, and looks
// again at its next interval; it is no failure.
type HeldError struct {
	Err error
}

func (e *HeldError) Error() string { return e.Err.Error() }

func (e *HeldError) Unwrap() error { return e.Err }

// IsHeld says whether err is, or wraps, a *HeldError.
func IsHeld(err error) bool {
	var held *HeldError
	return errors.As(err, &held)
}

// IsBadRevision says whether err is, or wraps, a *BadRevisionError.
func IsBadRevision(err error) bool {
	var bad *BadRevisionError
	return errors.As(err, &bad)
}

// Short returns the first 12 hex digits of a commit sha.
func Short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// EventType says what happened.
type EventType string

// The events of a loop.
const (
	// EventStarted: the loop starts.
	EventStarted EventType = "started"
	// EventWaiting: another watcher holds the lease (Holder); this one waits.
	EventWaiting EventType = "waiting"
	// EventAcquired: this watcher holds the lease (Holder is itself).
	EventAcquired EventType = "acquired"
	// EventLost: the lease could not be renewed, or was taken (Err).
	EventLost EventType = "lost"
	// EventReleased: the lease was given up on exit.
	EventReleased EventType = "released"
	// EventProgress: the loop started a step (Status.Step).
	EventProgress EventType = "progress"
	// EventSynced: a new revision was applied (Report).
	EventSynced EventType = "synced"
	// EventCorrected: drift was corrected (Report).
	EventCorrected EventType = "corrected"
	// EventChecked: a drift check found nothing to do (Report).
	EventChecked EventType = "checked"
	// EventBadRevision: a revision cannot be synced and is skipped (Err).
	EventBadRevision EventType = "bad-revision"
	// EventFailed: a step failed and is retried after RetryIn (Step, Err,
	// Attempt).
	EventFailed EventType = "failed"
	// EventRecovered: a step succeeded after failures (Attempt failures).
	EventRecovered EventType = "recovered"
	// EventImages: image automation pushed Revision, which is synced next.
	EventImages EventType = "images"
	// EventHeld: the set is held still and is not synced (Err says why);
	// sent when the hold starts or its reason changes.
	EventHeld EventType = "held"
	// EventUnheld: the set is no longer held; the loop syncs it again.
	EventUnheld EventType = "unheld"
	// EventStopped: the loop stopped, on a signal.
	EventStopped EventType = "stopped"
)

// Steps of the loop, as named in failures.
const (
	StepFetch  = "fetch"
	StepSync   = "sync"
	StepImages = "images"
	StepLease  = "lease"
)

// Event is one thing that happened, with the loop's status just after it.
type Event struct {
	Time     time.Time
	Type     EventType
	Step     string
	Revision string
	Report   *Report
	Err      error
	Attempt  int
	RetryIn  time.Duration
	Holder   string
	Status   Status
}

// Status is what a display shows of the loop.
type Status struct {
	// Step is what the loop is doing now ("fetching", "syncing",
	// "images", "waiting for the lease"); "" when it sleeps until Next.
	Step string
	// Head is the commit at the head of the ref, as last fetched.
	Head string
	// HeadBad says that Head cannot be synced and was skipped.
	HeadBad bool
	// Revision is the revision the cluster was last synced or checked to.
	Revision string
	// LastSync is the last sync's report, from LastSyncTime; nil before
	// the first.
	LastSync       *Report
	LastSyncTime   time.Time
	LastSyncFailed bool
	// Corrections counts the objects restored since the loop started.
	Corrections    int
	LastCorrection time.Time
	// Next is when the next fetch and sync run; NextImages the next image
	// automation, zero without it.
	Next       time.Time
	NextImages time.Time
	// LastError is the last failure, and Failures the consecutive failed
	// attempts since the last success (0 once recovered).
	LastError     string
	LastErrorTime time.Time
	Failures      int
	// Lease is "held", "waiting" (Holder holds it), "lost", or "" without
	// a lease.
	Lease  string
	Holder string
	// Held says why the set is held still (suspended, waiting for a
	// dependency); "" when it is not.
	Held string
}

// Sink receives events. Calls are serialized.
type Sink interface {
	Event(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Event calls f.
func (f SinkFunc) Event(e Event) { f(e) }
