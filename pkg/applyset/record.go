package applyset

import (
	"time"
	"unicode/utf8"
)

// HistoryLimit is how many runs the record keeps.
const HistoryLimit = 10

// Outcomes of a run.
const (
	OutcomeSucceeded = "Succeeded"
	OutcomeFailed    = "Failed"
)

// Source is where a set's manifests come from.
type Source struct {
	Repo string `json:"repo"`
	Ref  string `json:"ref,omitempty"`
	Path string `json:"path,omitempty"`
}

// Counts tallies what a run did to the set's objects.
type Counts struct {
	Created    int `json:"created"`
	Configured int `json:"configured"`
	Unchanged  int `json:"unchanged"`
	Pruned     int `json:"pruned"`
	Failed     int `json:"failed"`
}

// Run is one sync of the set.
type Run struct {
	Revision string        `json:"revision"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"durationNanoseconds"`
	Outcome  string        `json:"outcome"`
	Message  string        `json:"message,omitempty"`
	Counts   Counts        `json:"counts"`
	// Source is what the run synced: a rollback syncs a revision of the
	// history with the source of its run. Records written before it was
	// kept have none; their runs used the record's Source.
	Source *Source `json:"source,omitempty"`
	// Rollback says that the run was a rollback to Revision.
	Rollback bool `json:"rollback,omitempty"`
}

// Suspension says who held the set still, when, and why: sync (without
// --force) and watch leave a suspended set alone.
type Suspension struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// HealthCheck is a health rule as the record keeps it (pkg/health.Rule,
// with its origin, "file:line").
type HealthCheck struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Current    string `json:"current"`
	Failed     string `json:"failed,omitempty"`
	InProgress string `json:"inProgress,omitempty"`
	Origin     string `json:"origin,omitempty"`
}

// Bounds that keep the record small: it lives in a ConfigMap.
const (
	// MaxReason is the longest suspension reason kept, in characters.
	MaxReason = 512
	// MaxDependsOn is the most dependencies a set may have.
	MaxDependsOn = 32
)

// Record is what the parent remembers of the set: its source, the last
// revision that synced without error, and the last runs, newest first.
type Record struct {
	Source             Source    `json:"source"`
	LastSyncedRevision string    `json:"lastSyncedRevision,omitempty"`
	LastSyncedTime     time.Time `json:"lastSyncedTime,omitzero"`
	History            []Run     `json:"history,omitempty"`
	// Suspended, when set, holds the set still (see Suspension).
	Suspended *Suspension `json:"suspended,omitempty"`
	// DependsOn names the sets ("name", or "namespace/name") that must be
	// synced and healthy before this one syncs.
	DependsOn []string `json:"dependsOn,omitempty"`
	// HealthChecks are the health rules of the set's config
	// (.gitops-set.yaml) as the last run that wrote the record read them:
	// status and the sets depending on this one judge its members by them.
	HealthChecks []HealthCheck `json:"healthChecks,omitempty"`

	// NextIsRollback marks the next run that Add records as a rollback.
	// It is not stored: the run is.
	NextIsRollback bool `json:"-"`
}

// Suspend holds the set still, saying who, when and why; the reason is cut
// to MaxReason characters.
func (r *Record) Suspend(by, reason string, at time.Time) {
	if utf8.RuneCountInString(reason) > MaxReason {
		reason = string([]rune(reason)[:MaxReason-1]) + "…"
	}
	r.Suspended = &Suspension{By: by, At: at.UTC().Truncate(time.Second), Reason: reason}
}

// Resume lets the set be synced again.
func (r *Record) Resume() { r.Suspended = nil }

// RunSource is the source run synced: its own, or, for a run recorded
// before runs kept their source, the record's.
func (r *Record) RunSource(run Run) Source {
	if run.Source != nil {
		return *run.Source
	}
	return r.Source
}

// Add records a run: the source it used, the run in the history, and, when it
// succeeded, its revision as the last synced one.
func (r *Record) Add(source Source, run Run) {
	r.Source = source
	src := source
	run.Source = &src
	if r.NextIsRollback {
		run.Rollback, r.NextIsRollback = true, false
	}
	if run.Outcome == OutcomeSucceeded {
		r.LastSyncedRevision = run.Revision
		r.LastSyncedTime = run.Started.Add(run.Duration)
	}
	r.History = append([]Run{run}, r.History...)
	if len(r.History) > HistoryLimit {
		r.History = r.History[:HistoryLimit]
	}
}
