package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// Status is a sync set as the cluster records it: what status prints, and
// its JSON form.
type Status struct {
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	ID        string          `json:"id"`
	Record    applyset.Record `json:"record"`
	LastRun   *LastRun        `json:"lastRun,omitempty"`
	Source    SourceTrust     `json:"sourceTrust"`
	Members   []apply.Member  `json:"members"`
	// Notes say how the members were judged, when it is worth saying.
	Notes []string `json:"notes,omitempty"`
}

// LastRun is the outcome of the newest run in the record, and how many runs
// in a row, up to it, ended the same way.
type LastRun struct {
	Outcome  string    `json:"outcome"`
	Started  time.Time `json:"started"`
	Revision string    `json:"revision"`
	Message  string    `json:"message,omitempty"`
	InARow   int       `json:"inARow"`
}

// States of a recorded source on this machine.
const (
	// Confirmed: the record names the source confirmed on this machine.
	Confirmed = "Confirmed"
	// NotConfirmed: no source is confirmed for the set on this machine.
	NotConfirmed = "NotConfirmed"
	// Differs: the record names another source than the confirmed one.
	Differs = "Differs"
	// Unknown: the confirmed source could not be read.
	Unknown = "Unknown"
)

// SourceTrust says whether the source recorded in the cluster is the one
// the operator confirmed on this machine: sync, diff, watch and the policy
// commands use a recorded source without --repo only when it is.
type SourceTrust struct {
	State     string           `json:"state"`
	Confirmed *applyset.Source `json:"confirmed,omitempty"`
	Message   string           `json:"message,omitempty"`
}

// Status reads the set's record and the health of its members. Nothing is
// fetched, and credentials in a recorded URL are never returned.
func (s *Session) Status(ctx context.Context) (*Status, error) {
	if err := s.opts.RequireName(); err != nil {
		return nil, err
	}
	set, err := s.LoadSet(ctx)
	if err != nil {
		return nil, err
	}
	if !set.Exists {
		return nil, fmt.Errorf("sync set %q not found in namespace %s (no ConfigMap %s/%s): %w; check --name and -n, or run kubectl gitops sync first", s.opts.Name, s.namespace, s.namespace, s.opts.Name, applyset.ErrNotFound)
	}
	members, err := s.cluster.members(ctx, set)
	if err != nil {
		return nil, err
	}
	trust := sourceTrust(NewTrust(s.factory, s.opts.Name, s.namespace), set.Record.Source)
	// A record written by an older version or by hand may name a URL with
	// credentials: they are never printed.
	set.Record.Source.Repo = source.Redact(set.Record.Source.Repo)
	for i, run := range set.Record.History {
		if run.Source != nil {
			src := *run.Source
			src.Repo = source.Redact(src.Repo)
			set.Record.History[i].Source = &src
		}
	}
	st := &Status{Name: set.Name, Namespace: set.Namespace, ID: set.ID, Record: set.Record, LastRun: lastRun(set.Record), Source: trust, Members: members}
	if _, err := recordedChecker(set); err != nil {
		st.Notes = append(st.Notes, fmt.Sprintf("%v: the members are judged by kstatus instead; sync the set again to record its rules anew", err))
	} else if n := len(set.Record.HealthChecks); n > 0 {
		st.Notes = append(st.Notes, fmt.Sprintf("members of the kinds of the %d health rule(s) recorded by the last run are judged by those rules, others by kstatus", n))
	}
	return st, nil
}

// lastRun summarizes the record's history; nil when it has none.
func lastRun(r applyset.Record) *LastRun {
	if len(r.History) == 0 {
		return nil
	}
	h := r.History[0]
	lr := &LastRun{Outcome: h.Outcome, Started: h.Started, Revision: h.Revision, Message: h.Message}
	for _, run := range r.History {
		if run.Outcome != h.Outcome {
			break
		}
		lr.InARow++
	}
	return lr
}

// sourceTrust compares the recorded source with the one confirmed on this
// machine. Nothing is fetched.
func sourceTrust(t Trust, recorded applyset.Source) SourceTrust {
	if recorded.Repo == "" {
		return SourceTrust{State: NotConfirmed, Message: "no source recorded"}
	}
	confirmed, ok, err := t.Confirmed()
	switch {
	case err != nil:
		return SourceTrust{State: Unknown, Message: err.Error()}
	case !ok:
		return SourceTrust{State: NotConfirmed, Message: "not confirmed on this machine: sync, diff and watch without --repo refuse it; name it with --repo to confirm it"}
	}
	st := SourceTrust{State: Confirmed, Confirmed: &confirmed}
	if d := sourcetrust.Differences(recorded, confirmed, sourcetrust.Named{}); len(d) > 0 {
		st.State = Differs
		st.Message = fmt.Sprintf("the %s differs from the source confirmed on this machine, %s: sync, diff and watch without --repo refuse it; name a source with --repo", strings.Join(d, " and "), sourcetrust.Describe(confirmed))
	}
	return st
}
