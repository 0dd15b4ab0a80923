package apply

import (
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// Action is what a run did, or would do, to one object.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Kept       Action = "kept"
	Ignored    Action = "ignored"
	Failed     Action = "failed"
)

// Line is the outcome for one object.
type Line struct {
	Object  applyset.ObjectID `json:"object"`
	Action  Action            `json:"action"`
	Origin  string            `json:"origin,omitempty"`
	Message string            `json:"message,omitempty"`
	// Diff is the unified diff of the object, from diff runs only.
	Diff string `json:"diff,omitempty"`

	stage int
	index int
}

// Result is the outcome of a run.
type Result struct {
	DryRun   bool            `json:"dryRun,omitempty"`
	Lines    []Line          `json:"objects"`
	Counts   applyset.Counts `json:"counts"`
	NotReady []string        `json:"notReady,omitempty"`
	// Warnings are what the run did differently from git on purpose, one
	// line per object, such as spec.replicas left to an autoscaler.
	Warnings []string      `json:"warnings,omitempty"`
	Duration time.Duration `json:"durationNanoseconds"`
}

// Failed says whether any object failed or did not become ready.
func (r *Result) Failed() bool { return r.Counts.Failed > 0 || len(r.NotReady) > 0 }

// Changed says whether the run changed, or would change, anything.
func (r *Result) Changed() bool {
	return r.Counts.Created+r.Counts.Configured+r.Counts.Pruned > 0
}

func (r *Result) count() {
	r.Counts = applyset.Counts{}
	for _, l := range r.Lines {
		switch l.Action {
		case Created:
			r.Counts.Created++
		case Configured:
			r.Counts.Configured++
		case Unchanged:
			r.Counts.Unchanged++
		case Pruned:
			r.Counts.Pruned++
		case Failed:
			r.Counts.Failed++
		}
	}
}
