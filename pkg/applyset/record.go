package applyset

import "time"

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
}

// Record is what the parent remembers of the set: its source, the last
// revision that synced without error, and the last runs, newest first.
type Record struct {
	Source             Source    `json:"source"`
	LastSyncedRevision string    `json:"lastSyncedRevision,omitempty"`
	LastSyncedTime     time.Time `json:"lastSyncedTime,omitzero"`
	History            []Run     `json:"history,omitempty"`
}

// Add records a run: the source it used, the run in the history, and, when it
// succeeded, its revision as the last synced one.
func (r *Record) Add(source Source, run Run) {
	r.Source = source
	if run.Outcome == OutcomeSucceeded {
		r.LastSyncedRevision = run.Revision
		r.LastSyncedTime = run.Started.Add(run.Duration)
	}
	r.History = append([]Run{run}, r.History...)
	if len(r.History) > HistoryLimit {
		r.History = r.History[:HistoryLimit]
	}
}
