package session

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// The lifecycle of a set: suspend and resume, rollback, and the gate that
// every sync passes before it writes (suspension, dependencies).

// SuspendedError says that the set is suspended: nothing was synced.
type SuspendedError struct {
	Name       string
	Suspension applyset.Suspension
}

func (e *SuspendedError) Error() string {
	return fmt.Sprintf("sync set %q is suspended (%s): nothing was synced. Resume it with kubectl gitops resume --name %s, or sync it once anyway with --force",
		e.Name, DescribeSuspension(e.Suspension), e.Name)
}

// DescribeSuspension is "by alice at 2026-01-02T03:04:05Z: reason".
func DescribeSuspension(s applyset.Suspension) string {
	d := fmt.Sprintf("by %s at %s", s.By, s.At.UTC().Format(time.RFC3339))
	if s.Reason != "" {
		d += ": " + s.Reason
	}
	return d
}

// rollbackMark is how a rollback run is recorded: the run as a rollback,
// and the set suspended, in the same writes as the run itself.
type rollbackMark struct {
	by, reason string
	// written says that the suspension was written, before applying.
	written bool
}

// gate runs between reading a revision and applying it, for runs that
// write: a rollback marks the record; any other sync is refused when the
// set is suspended (unless forced) or a dependency is not ready, and
// records the dependencies it was given.
func (s *Session) gate(ctx context.Context, rev *Revision, req *SyncRequest) error {
	if req.Apply.Diff || req.Apply.DryRun {
		return nil
	}
	rec := &rev.Set.Record
	if m := req.rollback; m != nil {
		// The suspension is written before anything is applied, so that
		// watch cannot roll an interrupted rollback forward.
		rec.Suspend(m.by, m.reason, time.Now())
		if w, ok := s.cluster.(recordWriter); ok && rev.Set.Exists {
			if err := w.writeRecord(ctx, rev.Set); err != nil {
				return err
			}
			m.written = true
		}
		rec.NextIsRollback = true
		return nil
	}
	deps, err := s.hold(ctx, rev.Set, req)
	if err != nil {
		return err
	}
	if req.DependsOn != nil {
		rec.DependsOn = deps
	}
	return nil
}

// hold fails when set may not be synced now: it is suspended (unless
// req.Force), or a dependency is not ready. It returns the set's
// dependencies: req's, normalized, or else the recorded ones.
func (s *Session) hold(ctx context.Context, set *applyset.Set, req *SyncRequest) ([]string, error) {
	if sp := set.Record.Suspended; sp != nil && !req.Force {
		return nil, &SuspendedError{Name: set.Name, Suspension: *sp}
	}
	deps := set.Record.DependsOn
	if req.DependsOn != nil {
		var err error
		if deps, err = NormalizeDependencies(req.DependsOn, set.Name, set.Namespace); err != nil {
			return nil, err
		}
	}
	return deps, s.checkDependencies(ctx, set, deps)
}

// Hold says whether a sync of the set would go ahead now, writing nothing:
// it returns a *SuspendedError, *DependencyError or *CycleError (IsHeld)
// when the set is held, as Sync would. watch asks before it checks drift.
func (s *Session) Hold(ctx context.Context, req SyncRequest) error {
	if err := s.opts.RequireName(); err != nil {
		return err
	}
	set, err := s.LoadSet(ctx)
	if err != nil {
		return err
	}
	_, err = s.hold(ctx, set, &req)
	return err
}

// SuspendResult is the state of a set after suspend or resume.
type SuspendResult struct {
	Name      string               `json:"name"`
	Namespace string               `json:"namespace"`
	Suspended *applyset.Suspension `json:"suspended,omitempty"`
	// Changed says whether this call changed the set: false when it was
	// suspended (or not) already.
	Changed bool `json:"changed"`
}

// recordWriter writes a set's record; the cluster of the kubeconfig is one.
type recordWriter interface {
	writeRecord(ctx context.Context, set *applyset.Set) error
}

func (k kube) writeRecord(ctx context.Context, set *applyset.Set) error {
	return set.WriteRecord(ctx, k.client.Kube.CoreV1())
}

// identifier says who the cluster takes the caller for.
type identifier interface {
	whoAmI(ctx context.Context) (string, error)
}

func (k kube) whoAmI(ctx context.Context) (string, error) {
	r, err := k.client.Kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

// Who is the operator as the cluster knows them, for the record of a
// suspension: the user name the API server authenticated (a
// SelfSubjectReview, what its audit log records for the write), else the
// kubeconfig's user entry. git's user.name is not used: it is a label
// anyone sets on their machine, and the suspension is a write to the
// cluster.
func (s *Session) Who(ctx context.Context) string {
	if id, ok := s.cluster.(identifier); ok {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if name, err := id.whoAmI(ctx); err == nil && name != "" {
			return name
		}
	}
	raw, err := s.factory.ToRawKubeConfigLoader().RawConfig()
	if err == nil {
		if c := raw.Contexts[raw.CurrentContext]; c != nil && c.AuthInfo != "" {
			return "kubeconfig user " + c.AuthInfo
		}
	}
	return "unknown"
}

// Suspend holds the set still: sync (without --force) and watch leave it
// alone until Resume. An already suspended set is left as it is.
func (s *Session) Suspend(ctx context.Context, reason string) (*SuspendResult, error) {
	return s.setSuspended(ctx, func(set *applyset.Set) bool {
		if set.Record.Suspended != nil {
			return false
		}
		set.Record.Suspend(s.Who(ctx), reason, time.Now())
		return true
	})
}

// Resume ends a suspension.
func (s *Session) Resume(ctx context.Context) (*SuspendResult, error) {
	return s.setSuspended(ctx, func(set *applyset.Set) bool {
		if set.Record.Suspended == nil {
			return false
		}
		set.Record.Resume()
		return true
	})
}

func (s *Session) setSuspended(ctx context.Context, change func(*applyset.Set) bool) (*SuspendResult, error) {
	if err := s.opts.RequireName(); err != nil {
		return nil, err
	}
	set, err := s.existingSet(ctx)
	if err != nil {
		return nil, err
	}
	res := &SuspendResult{Name: set.Name, Namespace: set.Namespace}
	if res.Changed = change(set); res.Changed {
		w, ok := s.cluster.(recordWriter)
		if !ok {
			return nil, errors.New("this cluster cannot write a sync record")
		}
		if err := w.writeRecord(ctx, set); err != nil {
			return nil, err
		}
	}
	res.Suspended = set.Record.Suspended
	return res, nil
}

// RollbackRequest says which revision of the history to go back to.
type RollbackRequest struct {
	// To is a revision (a commit sha, or its first 4 or more hex digits):
	// one of the history's, or else a commit of the set's repository.
	To string
	// Steps, without To, goes back that many successful revisions before
	// the last synced one; 0 means 1.
	Steps int
	// Apply and Progress are as for a sync.
	Apply    apply.Options
	Progress Progress
}

var hexRevision = regexp.MustCompile(`^[0-9a-fA-F]{4,40}$`)

// Rollback syncs a revision of the set's recorded history, with the source
// recorded for that run, records the run as a rollback and suspends the set
// ("rolled back to REV by WHO") so that watch does not roll it forward.
// Pruning follows the rolled-back revision, as any sync does. A revision
// that is not in the history is synced only when To names a commit of the
// set's repository. A rollback is not held by the set's suspension or its
// dependencies: it restores a state that passed them when it was synced.
func (s *Session) Rollback(ctx context.Context, req RollbackRequest) (*SyncResult, error) {
	if err := s.opts.RequireName(); err != nil {
		return nil, err
	}
	if req.To != "" && req.Steps != 0 {
		return nil, errors.New("--to and --steps both name the revision to roll back to: give one")
	}
	if req.Steps < 0 {
		return nil, fmt.Errorf("--steps %d: give 1 or more", req.Steps)
	}
	if req.To != "" && !hexRevision.MatchString(req.To) {
		return nil, fmt.Errorf("--to %q is not a commit: give a revision of the set's history (kubectl gitops status --name %s), full or its first 7 hex digits", req.To, s.opts.Name)
	}
	set, err := s.existingSet(ctx)
	if err != nil {
		return nil, err
	}
	target, err := s.rollbackTarget(ctx, set, req)
	if err != nil {
		return nil, err
	}
	if req.Apply.DryRun || req.Apply.Diff {
		return s.run(ctx, SyncRequest{Revision: target, Apply: req.Apply, Progress: req.Progress}, "applying")
	}
	who := s.Who(ctx)
	mark := &rollbackMark{by: who, reason: fmt.Sprintf("rolled back to %s by %s", short(target), who)}
	res, err := s.run(ctx, SyncRequest{Revision: target, Apply: req.Apply, Progress: req.Progress, rollback: mark}, "applying")
	var failed *FailedError
	if err != nil && mark.written && !errors.As(err, &failed) {
		err = fmt.Errorf("%w\nsync set %q stays suspended (%s): roll back again, or resume it with kubectl gitops resume --name %s", err, s.opts.Name, mark.reason, s.opts.Name)
	}
	return res, err
}

// rollbackTarget finds the revision to roll back to, and resolves the
// session's source to the one recorded for its run (unless the operator
// named one).
func (s *Session) rollbackTarget(ctx context.Context, set *applyset.Set, req RollbackRequest) (string, error) {
	rec := set.Record
	if req.To == "" {
		// Going back undoes: the runs between a rollback to R and the
		// run of R it went back to are not steps back.
		steps := max(req.Steps, 1)
		var seen []string
		undone := ""
		for _, run := range rec.History {
			if undone != "" {
				if run.Revision == undone && !run.Rollback {
					undone = ""
				}
				continue
			}
			if run.Rollback {
				undone = run.Revision
			}
			if run.Outcome != applyset.OutcomeSucceeded || run.Revision == rec.LastSyncedRevision || contains(seen, run.Revision) {
				continue
			}
			seen = append(seen, run.Revision)
			if len(seen) == steps {
				return run.Revision, s.resolveRun(set, rec.RunSource(run))
			}
		}
		return "", fmt.Errorf("sync set %q cannot go back %d step(s): its history holds %d successful revision(s) before the last synced one, %s%s (the record keeps the last %d runs). Name a commit with --to",
			set.Name, steps, len(seen), short(rec.LastSyncedRevision), listed(seen), applyset.HistoryLimit)
	}
	to := strings.ToLower(req.To)
	var found *applyset.Run
	for i, run := range rec.History {
		if !strings.HasPrefix(run.Revision, to) {
			continue
		}
		if found != nil && found.Revision != run.Revision {
			return "", fmt.Errorf("--to %s names more than one revision of the history of sync set %q (%s and %s): give more digits", req.To, set.Name, short(found.Revision), short(run.Revision))
		}
		if found == nil || found.Outcome != applyset.OutcomeSucceeded {
			found = &rec.History[i]
		}
	}
	if found != nil {
		return found.Revision, s.resolveRun(set, rec.RunSource(*found))
	}
	// Not in the history: a commit of the repository, through the source
	// the operator names or the set records (confirmed on this machine).
	r, err := s.resolve(set, set.Namespace)
	if err != nil {
		return "", err
	}
	if _, err := s.Fetch(ctx); err != nil {
		return "", err
	}
	snap, err := s.repo.Snapshot(to)
	if err == nil && !strings.HasPrefix(snap.Revision, to) {
		err = fmt.Errorf("%s names %s, not a commit starting with it", req.To, short(snap.Revision))
	}
	if err != nil {
		return "", fmt.Errorf("revision %s is neither in the history of sync set %q%s nor a commit of %s (%w): nothing was changed. Give a revision of the history (kubectl gitops status --name %s) or a commit of the repository",
			req.To, set.Name, listed(historyRevisions(rec)), r.src.Repo, err, set.Name)
	}
	return snap.Revision, nil
}

// resolveRun makes the source recorded for a run of the history the
// session's source, unless the operator named one. The recorded source is
// read from the cluster: it is used only when it is the one confirmed on
// this machine, as for any sync without --repo.
func (s *Session) resolveRun(set *applyset.Set, recorded applyset.Source) error {
	if s.resolved != nil || s.opts.Source.Repo != "" {
		_, err := s.resolve(set, set.Namespace)
		return err
	}
	trust := NewTrust(s.factory, s.opts.Name, set.Namespace)
	spec, src, err := s.Spec(recorded, trust)
	if err != nil {
		return err
	}
	s.resolved = &resolved{spec: spec, src: src, trust: trust}
	return nil
}

func historyRevisions(r applyset.Record) []string {
	var out []string
	for _, run := range r.History {
		if !contains(out, run.Revision) {
			out = append(out, run.Revision)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// listed is " (a, b)" of short revisions, "" for none.
func listed(revs []string) string {
	if len(revs) == 0 {
		return ""
	}
	shorts := make([]string, len(revs))
	for i, r := range revs {
		shorts[i] = short(r)
	}
	return " (" + strings.Join(shorts, ", ") + ")"
}
