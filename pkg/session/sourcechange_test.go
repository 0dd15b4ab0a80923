package session

import (
	"context"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

func cm(name string) applyset.ObjectID {
	return applyset.ObjectID{Kind: "ConfigMap", Namespace: "demo", Name: name}
}

// A run from another path than the recorded one says so first, with the
// members the change would prune, and prunes them only with --prune given
// for the run; the next run from the new source guards what was left
// behind the same way, until a run prunes.
func TestSourceChangePrunesOnlyWhenNamed(t *testing.T) {
	factory := isolate(t)
	dir, rev := repo(t, map[string]string{"deploy/a.yaml": configMap("a", "1"), "deploy/app/b.yaml": configMap("b", "1")})
	oldSrc := applyset.Source{Repo: dir, Path: "deploy"}
	newSrc := applyset.Source{Repo: dir, Path: "deploy/app"}
	live := []apply.Member{{Object: cm("a")}, {Object: cm("b")}}
	run := func(src applyset.Source, pruned int) applyset.Run {
		return applyset.Run{Revision: rev, Outcome: applyset.OutcomeSucceeded, Source: &src, Counts: applyset.Counts{Pruned: pruned}}
	}
	for _, tc := range []struct {
		name       string
		record     applyset.Record
		members    applyset.Members
		path       string
		prune      bool
		pruneNamed bool
		wantPrune  bool
		wantNotes  []string // each in one note, in order
	}{
		{
			name: "changed path, --prune not given", record: applyset.Record{Source: oldSrc, History: []applyset.Run{run(oldSrc, 0)}},
			members: applyset.Members{cm("a"): {}, cm("b"): {}}, path: "deploy/app", prune: true, wantPrune: false,
			wantNotes: []string{
				`note: the source differs from the one sync set web recorded: the path (recorded: ` + dir + ` path deploy; this run: ` + dir + ` path deploy/app)`,
				"note: the change of source would prune 1 member: ConfigMap/demo/a; applying without pruning anything: pass --prune on the command line to prune them",
			},
		},
		{
			name: "changed path, --prune given", record: applyset.Record{Source: oldSrc, History: []applyset.Run{run(oldSrc, 0)}},
			members: applyset.Members{cm("a"): {}, cm("b"): {}}, path: "deploy/app", prune: true, pruneNamed: true, wantPrune: true,
			wantNotes: []string{"note: the source differs", "note: the change of source would prune 1 member: ConfigMap/demo/a; pruning them, as --prune asks"},
		},
		{
			name: "changed path, --prune=false", record: applyset.Record{Source: oldSrc, History: []applyset.Run{run(oldSrc, 0)}},
			members: applyset.Members{cm("a"): {}, cm("b"): {}}, path: "deploy/app", prune: false, pruneNamed: true, wantPrune: false,
			wantNotes: []string{"note: the source differs"},
		},
		{
			name: "the run after an unpruned change", record: applyset.Record{Source: newSrc, History: []applyset.Run{run(newSrc, 0), run(oldSrc, 0)}},
			members: applyset.Members{cm("b"): {}}, path: "deploy/app", prune: true, wantPrune: false,
			wantNotes: []string{"note: 1 member that an earlier run from " + dir + " path deploy left in the set when the source changed is still there: ConfigMap/demo/a; applying without pruning anything"},
		},
		{
			name: "a run pruned since the change", record: applyset.Record{Source: newSrc, History: []applyset.Run{run(newSrc, 1), run(oldSrc, 0)}},
			members: applyset.Members{cm("b"): {}}, path: "deploy/app", prune: true, wantPrune: true,
		},
		{
			name: "the same source", record: applyset.Record{Source: oldSrc, History: []applyset.Run{run(oldSrc, 0)}},
			members: applyset.Members{cm("a"): {}, cm("b"): {}}, path: "deploy", prune: true, wantPrune: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1", Exists: true, Record: tc.record, Members: tc.members}, member: live}
			s := newSession(t, factory, named("web", dir, tc.path), c)
			progress := &recordedProgress{}
			if _, err := s.Sync(context.Background(), SyncRequest{Apply: apply.Options{Prune: tc.prune}, PruneNamed: tc.pruneNamed, Progress: progress}); err != nil {
				t.Fatal(err)
			}
			if len(c.syncs) != 1 || c.syncs[0].Prune != tc.wantPrune {
				t.Fatalf("applies %+v; want one with Prune %v", c.syncs, tc.wantPrune)
			}
			if len(progress.notes) != len(tc.wantNotes) {
				t.Fatalf("notes %q; want %d", progress.notes, len(tc.wantNotes))
			}
			for i, want := range tc.wantNotes {
				if !strings.HasPrefix(progress.notes[i], want) {
					t.Errorf("note %d:\n%s\nwant it to start with\n%s", i, progress.notes[i], want)
				}
			}
		})
	}
}

// diff says the same, and shows no prune without --prune.
func TestSourceChangeInDiff(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{"deploy/a.yaml": configMap("a", "1"), "deploy/app/b.yaml": configMap("b", "1")})
	c := &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1", Exists: true, Record: applyset.Record{Source: applyset.Source{Repo: dir, Path: "deploy"}}}, member: []apply.Member{{Object: cm("a")}, {Object: cm("b")}}}
	s := newSession(t, factory, named("web", dir, "deploy/app"), c)
	progress := &recordedProgress{}
	if _, err := s.Diff(context.Background(), SyncRequest{Apply: apply.Options{Prune: true}, Progress: progress}); err != nil {
		t.Fatal(err)
	}
	if len(c.syncs) != 1 || c.syncs[0].Prune || !c.syncs[0].Diff {
		t.Fatalf("applies %+v; want one diff without prune", c.syncs)
	}
	if n := strings.Join(progress.notes, "\n"); !strings.Contains(n, "showing what a sync would do without pruning anything: pass --prune") {
		t.Errorf("notes %q", progress.notes)
	}
}

// A Namespace the change would prune that still holds objects of the new
// source is said without --prune, and refused with it: pruning it would
// delete them.
func TestSourceChangeNeverPrunesANamespaceOfTheRevision(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{"deploy/a.yaml": configMap("a", "1"), "deploy/app/b.yaml": configMap("b", "1")})
	ns := applyset.ObjectID{Kind: "Namespace", Name: "demo"}
	live := []apply.Member{{Object: ns}, {Object: cm("a")}, {Object: cm("b")}}
	for _, pruneNamed := range []bool{false, true} {
		c := &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1", Exists: true, Record: applyset.Record{Source: applyset.Source{Repo: dir, Path: "deploy"}}}, member: live}
		s := newSession(t, factory, named("web", dir, "deploy/app"), c)
		progress := &recordedProgress{}
		_, err := s.Sync(context.Background(), SyncRequest{Apply: apply.Options{Prune: true}, PruneNamed: pruneNamed, Progress: progress})
		notes := strings.Join(progress.notes, "\n")
		if !pruneNamed {
			if err != nil || len(c.syncs) != 1 || c.syncs[0].Prune || !strings.Contains(notes, "would prune 2 members (pruning Namespace/demo would delete objects of this revision with it): ConfigMap/demo/a, Namespace/demo; applying without pruning") {
				t.Errorf("without --prune: %v, applies %+v, notes:\n%s", err, c.syncs, notes)
			}
			continue
		}
		if err == nil || len(c.syncs) != 0 || !strings.Contains(err.Error(), "pruning Namespace/demo would delete objects of this revision with it: Namespace/demo holds ConfigMap/demo/b. Nothing was written") {
			t.Errorf("with --prune: %v, applies %+v; want a refusal before any apply", err, c.syncs)
		}
	}
}

// The dry run of a rollback to a run of another path shows what the
// rollback does, pruning included: a rollback returns to a run's own
// source on purpose.
func TestSourceChangeLeavesARollbackPreviewAlone(t *testing.T) {
	l := newLife(t)
	dir, first := repo(t, map[string]string{"deploy/a.yaml": configMap("a", "1"), "deploy/app/b.yaml": configMap("b", "1")})
	second := commit(t, dir, "second", map[string]string{"deploy/app/c.yaml": configMap("c", "1")})
	l.syncAt("web", dir, "deploy", first)
	l.syncAt("web", dir, "deploy/app", second) // guarded: a is kept
	l.c.health["demo/web"] = []apply.Member{{Object: cm("a")}, {Object: cm("b")}, {Object: cm("c")}}
	for _, preview := range []apply.Options{{Prune: true, Diff: true}, {Prune: true, DryRun: true}} {
		progress := &recordedProgress{}
		// The run's source is named, as rollback needs for a source not confirmed.
		if _, err := l.session(named("web", dir, "deploy")).Rollback(context.Background(), RollbackRequest{To: first, Apply: preview, Progress: progress}); err != nil {
			t.Fatal(err)
		}
		last := l.c.syncs[len(l.c.syncs)-1]
		if last.Revision != first || last.Source.Path != "deploy" || !last.Prune {
			t.Errorf("rollback preview applied with %+v; want %s of deploy, pruning c as the rollback does", last, short(first))
		}
		if len(progress.notes) > 0 {
			t.Errorf("the rollback's preview is guarded: %q", progress.notes)
		}
	}
}
