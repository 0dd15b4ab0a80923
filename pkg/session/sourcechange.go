package session

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// sourceChange guards a run whose source differs from the one the set
// recorded (another repository, ref or path): it says so first, with the
// members the change would prune, and prunes them only when the operator
// passed --prune for this run (req.PruneNamed). Without it, the run applies
// without pruning and says so.
//
// Members such a run left behind stay in the set. So that the next run, now
// from the recorded source, does not delete them without a word, they are
// guarded the same way while the history shows the source change and no
// run has pruned since: the live members that are neither in the revision
// nor among those the last run applied.
//
// A rollback syncs a source of the history on purpose and is not guarded.
func (s *Session) sourceChange(ctx context.Context, rev *Revision, req *SyncRequest, p Progress) error {
	set := rev.Set
	recorded := set.Record.Source
	if !set.Exists || recorded.Repo == "" || req.rollback != nil || rollbackPreview(set.Record, rev, req) {
		return nil
	}
	changed := sourcetrust.Differences(rev.Source, recorded, sourcetrust.Named{})
	from, leftovers := recorded, false
	if len(changed) == 0 {
		prev, ok := unprunedSourceChange(set.Record)
		if !ok {
			return nil
		}
		from, leftovers = prev, true
	} else {
		p.Note(fmt.Sprintf("note: the source differs from the one sync set %s recorded: the %s (recorded: %s; this run: %s)",
			set.Name, strings.Join(changed, " and "), sourcetrust.Describe(recorded), sourcetrust.Describe(rev.Source)))
	}
	if !req.Apply.Prune {
		return nil
	}
	members, err := s.cluster.members(ctx, set)
	if err != nil {
		return fmt.Errorf("listing the members of sync set %s, to see what the change of source would prune: %w; nothing was written", set.Name, err)
	}
	inPlan := map[applyset.ObjectID]bool{}
	for _, it := range rev.Plan.Items {
		inPlan[it.ID] = true
	}
	for _, it := range rev.Plan.Ignored {
		inPlan[it.ID] = true
	}
	var gone []string
	for _, m := range members {
		if inPlan[m.Object] {
			continue
		}
		if _, applied := set.Members[m.Object]; leftovers && applied {
			continue // left git since the last run: an ordinary prune
		}
		gone = append(gone, m.Object.String())
	}
	sort.Strings(gone)
	if len(gone) == 0 {
		return nil
	}
	what := fmt.Sprintf("the change of source would prune %s", countMembers(gone))
	if leftovers {
		what = fmt.Sprintf("%s that an earlier run from %s left in the set when the source changed %s still there", countMembers(gone), sourcetrust.Describe(from), isAre(len(gone)))
	}
	holding := namespacesHolding(gone, rev)
	if req.PruneNamed {
		if len(holding) > 0 {
			return fmt.Errorf("%s: %s; but pruning %s would delete objects of this revision with it: %s. Nothing was written: add the namespace to the new source, or move those objects out of it", what, listSome(gone), strings.Join(holding, ", "), strings.Join(holdingWhat(holding, rev), "; "))
		}
		p.Note(fmt.Sprintf("note: %s: %s; pruning them, as --prune asks", what, listSome(gone)))
		return nil
	}
	if len(holding) > 0 {
		what += fmt.Sprintf(" (pruning %s would delete objects of this revision with it)", strings.Join(holding, ", "))
	}
	req.Apply.Prune = false
	verb := "applying"
	if req.Apply.Diff || req.Apply.DryRun {
		verb = "showing what a sync would do"
	}
	p.Note(fmt.Sprintf("note: %s: %s; %s without pruning anything: pass --prune on the command line to prune them", what, listSome(gone), verb))
	return nil
}

// rollbackPreview says that req is the dry run or diff of a rollback: a
// revision of the history with the source of its run, which the rollback
// itself syncs, pruning, without a guard.
func rollbackPreview(r applyset.Record, rev *Revision, req *SyncRequest) bool {
	if req.Revision == "" || !req.Apply.DryRun && !req.Apply.Diff {
		return false
	}
	for _, run := range r.History {
		if run.Revision == rev.Snapshot.Revision && r.RunSource(run) == rev.Source {
			return true
		}
	}
	return false
}

// unprunedSourceChange finds, in the history, a run whose source differs
// from the run before it with no run since that pruned anything; it
// returns the earlier source.
func unprunedSourceChange(r applyset.Record) (applyset.Source, bool) {
	h := r.History
	for i := 0; i+1 < len(h); i++ {
		if h[i].Counts.Pruned > 0 || h[i].Rollback {
			return applyset.Source{}, false
		}
		if prev := r.RunSource(h[i+1]); r.RunSource(h[i]) != prev {
			return prev, true
		}
	}
	return applyset.Source{}, false
}

func countMembers(ids []string) string {
	if len(ids) == 1 {
		return "1 member"
	}
	return fmt.Sprintf("%d members", len(ids))
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// listSome lists up to five ids.
func listSome(ids []string) string {
	if len(ids) <= 5 {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:5], ", "), len(ids)-5)
}

// namespacesHolding lists the Namespaces among gone that hold objects of
// the revision: pruning one deletes them too.
func namespacesHolding(gone []string, rev *Revision) []string {
	var out []string
	for _, id := range gone {
		name, ok := strings.CutPrefix(id, "Namespace/")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		for _, it := range rev.Plan.Items {
			if it.ID.Namespace == name {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// holdingWhat says, per namespace, which objects of the revision it holds.
func holdingWhat(namespaces []string, rev *Revision) []string {
	var out []string
	for _, ns := range namespaces {
		name := strings.TrimPrefix(ns, "Namespace/")
		var ids []string
		for _, it := range rev.Plan.Items {
			if it.ID.Namespace == name {
				ids = append(ids, it.ID.String())
			}
		}
		sort.Strings(ids)
		out = append(out, ns+" holds "+listSome(ids))
	}
	return out
}
