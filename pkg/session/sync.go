package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// Progress is told what a use case is doing, for a person watching.
type Progress interface {
	// Status replaces a passing status line.
	Status(msg string)
	// Note is a line to keep.
	Note(msg string)
}

type noProgress struct{}

func (noProgress) Status(string) {}
func (noProgress) Note(string)   {}

// SyncRequest says what to sync and how.
type SyncRequest struct {
	// Revision is the commit to sync; "" for the head of the source's ref.
	Revision string
	// Apply says how to apply. Its Revision and Source are the session's
	// to fill; Diff and DryRun are set by the use case that needs them.
	Apply apply.Options
	// Progress, when set, is told what the run is doing.
	Progress Progress
	// Force syncs a suspended set (see Suspend); it stays suspended.
	Force bool
	// DependsOn, when not nil, replaces the set's recorded dependencies
	// (empty: none); nil follows the recorded ones (see lifecycle.go).
	DependsOn []string
	// PruneNamed says that the operator passed --prune for this run: only
	// then does a run whose source differs from the recorded one prune the
	// members the change leaves out (see sourceChange).
	PruneNamed bool

	rollback *rollbackMark // a rollback's mark on the record
}

func (r SyncRequest) progress() Progress {
	if r.Progress == nil {
		return noProgress{}
	}
	return r.Progress
}

// SyncResult is the outcome of a sync, a dry run, a diff or a drift check.
// Its JSON form is what sync -o json and diff -o json print.
type SyncResult struct {
	Name     string `json:"name"`
	Repo     string `json:"repo"`
	Ref      string `json:"ref,omitempty"`
	Path     string `json:"path,omitempty"`
	Revision string `json:"revision"`
	*apply.Result

	// Subject is the commit's subject line.
	Subject string `json:"-"`
	// Previous is the revision the set's record said was synced before.
	Previous string `json:"-"`
	// Uncommitted lists the changed files of a local work tree under the
	// path, which the run did not read; WorkTree is where they are.
	Uncommitted []string `json:"-"`
	WorkTree    string   `json:"-"`
}

func (s *Session) result(rev *Revision) *SyncResult {
	return &SyncResult{
		Name: s.opts.Name, Repo: rev.Source.Repo, Ref: rev.Source.Ref, Path: rev.Source.Path,
		Revision: rev.Snapshot.Revision, Subject: rev.Snapshot.Subject, Previous: rev.Set.Record.LastSyncedRevision,
	}
}

// Sync makes the cluster the state of a commit: it reads the revision and
// applies it to the set (or, with req.Apply.DryRun, sends every change as
// a server-side dry run).
//
// The result comes back with the error when the run got as far as
// applying. A run in which objects failed is an error too (a
// *FailedError); a revision that may never be synced as it is (no objects
// while the set has some, an ApplySet parent among them) is a
// *RevisionError whose Bad says so.
func (s *Session) Sync(ctx context.Context, req SyncRequest) (*SyncResult, error) {
	req.Apply.Diff = false
	return s.run(ctx, req, "applying")
}

// Diff is a sync as a server-side dry run with a unified diff per object.
func (s *Session) Diff(ctx context.Context, req SyncRequest) (*SyncResult, error) {
	req.Apply.Diff = true
	req.Apply.Wait = false
	return s.run(ctx, req, "comparing")
}

func (s *Session) run(ctx context.Context, req SyncRequest, doing string) (*SyncResult, error) {
	p := req.progress()
	p.Status("reading the repository and the cluster")
	rev, err := s.Read(ctx, req.Revision)
	if err != nil {
		return nil, err
	}
	if req.DependsOn == nil {
		// --depends-on wins; else the set config's dependsOn; else the
		// recorded dependencies.
		if req.DependsOn, err = repoDependencies(rev.Config, rev.Set); err != nil {
			return nil, &RevisionError{Revision: rev.Snapshot.Revision, Repo: rev.Source.Repo, Err: err, bad: true}
		}
	}
	if err := s.gate(ctx, rev, &req); err != nil {
		return nil, err
	}
	res := s.result(rev)
	s.noteUncommitted(rev, res, p, doing)
	if err := s.sourceChange(ctx, rev, &req, p); err != nil {
		return nil, err
	}
	opts := req.Apply
	opts.Revision, opts.Source = rev.Snapshot.Revision, rev.Source
	opts.HealthRules = rev.Config.Rules()
	if !opts.DryRun && !opts.Diff {
		rev.Set.Record.HealthChecks = recordHealthChecks(rev.Config)
	}
	total, done := len(rev.Plan.Items), 0
	p.Status(fmt.Sprintf("%s revision %.12s: %d objects", doing, rev.Snapshot.Revision, total))
	onLine := opts.OnLine
	opts.OnLine = func(l apply.Line) {
		done++
		p.Status(fmt.Sprintf("%s revision %.12s: %d/%d", doing, rev.Snapshot.Revision, done, total))
		if onLine != nil {
			onLine(l)
		}
	}
	r, err := s.cluster.sync(ctx, rev.Set, rev.Plan, opts)
	res.Result = r
	if err != nil {
		return res, s.refused(rev, err)
	}
	if r.Failed() {
		return res, &FailedError{Result: r}
	}
	return res, nil
}

// refused makes a refusal for what the revision holds a *RevisionError:
// no objects while the set has some, or an ApplySet's parent. Reading it
// again gives the same refusal. Other refusals depend on the cluster (an
// object outside the set, another set's object).
func (s *Session) refused(rev *Revision, err error) error {
	if errors.Is(err, apply.ErrEmpty) || errors.Is(err, apply.ErrParent) {
		return &RevisionError{Revision: rev.Snapshot.Revision, Repo: rev.Source.Repo, Err: err, bad: true}
	}
	return err
}

// DriftResult is the outcome of a drift check.
type DriftResult struct {
	*SyncResult
	// Recorded says that the revision is the one the set's record says was
	// last synced, successfully, from the same source: only then is a
	// difference drift, and only then was the check made.
	Recorded bool
	// Drifted says that the cluster differs from the revision: a sync would
	// change something.
	Drifted bool
}

// Drift checks, as a server-side dry run that writes nothing, whether the
// cluster still holds the revision the set last synced: something was
// deleted or changed by hand since. When the revision is not the set's
// last good one, there is nothing to compare and Recorded is false.
func (s *Session) Drift(ctx context.Context, req SyncRequest) (*DriftResult, error) {
	rev, err := s.Read(ctx, req.Revision)
	if err != nil {
		return nil, err
	}
	set := rev.Set
	d := &DriftResult{SyncResult: s.result(rev)}
	d.Recorded = set.Exists && rev.Snapshot.Revision == set.Record.LastSyncedRevision && set.Record.Source == rev.Source && lastSucceeded(set.Record)
	if !d.Recorded {
		return d, nil
	}
	opts := req.Apply
	opts.DryRun, opts.Diff, opts.Wait = true, false, false
	opts.Revision, opts.Source = rev.Snapshot.Revision, rev.Source
	opts.HealthRules = rev.Config.Rules()
	r, err := s.cluster.sync(ctx, set, rev.Plan, opts)
	if err != nil {
		return d, s.refused(rev, err)
	}
	d.Result = r
	d.Drifted = r.Changed() || r.Failed()
	return d, nil
}

func lastSucceeded(r applyset.Record) bool {
	return len(r.History) > 0 && r.History[0].Outcome == applyset.OutcomeSucceeded
}

// noteUncommitted notes, in one line, when the work tree of a local
// source has uncommitted changes under the path: the run reads the commit
// only. A failure to look is no failure of the run: it says nothing then.
func (s *Session) noteUncommitted(rev *Revision, res *SyncResult, p Progress, doing string) {
	if rev.Repository == nil {
		return
	}
	files, wt, err := rev.Repository.Uncommitted(rev.Snapshot.Revision, rev.Source.Path)
	if err != nil || len(files) == 0 {
		return
	}
	res.Uncommitted, res.WorkTree = files, wt
	verb := "sync"
	if doing == "comparing" {
		verb = "diff"
	}
	where := wt + " has uncommitted changes"
	if d := dir(rev.Source); d != "." {
		where = d + "/ has uncommitted changes in " + wt
	}
	shown, more := files, ""
	if len(shown) > 3 {
		shown, more = shown[:3], fmt.Sprintf(" and %d more", len(files)-3)
	}
	p.Note(fmt.Sprintf("note: %s (%s%s); %s reads commit %.7s only", where, strings.Join(shown, ", "), more, verb, rev.Snapshot.Revision))
}

// FailedError is a run in which objects failed or did not become ready;
// the result's lines say which.
type FailedError struct {
	Result *apply.Result
}

func (e *FailedError) Error() string {
	res := e.Result
	var errs []error
	for _, l := range res.Lines {
		if l.Action == apply.Failed {
			errs = append(errs, fmt.Errorf("%s (%s): %s", l.Object, l.Origin, l.Message))
		}
	}
	for _, n := range res.NotReady {
		errs = append(errs, fmt.Errorf("not ready: %s", n))
	}
	what := "the revision was not recorded as synced"
	if res.DryRun {
		what = "nothing was changed (dry run)"
	}
	return fmt.Sprintf("%v\n%d object(s) failed, %d not ready; %s", errors.Join(errs...), res.Counts.Failed, len(res.NotReady), what)
}

// Changes lists the objects a result created, configured or pruned, as
// "Kind/ns/name action".
func Changes(res *apply.Result) []string {
	var out []string
	for _, l := range res.Lines {
		switch l.Action {
		case apply.Created, apply.Configured, apply.Pruned:
			out = append(out, l.Object.String()+" "+string(l.Action))
		}
	}
	return out
}
