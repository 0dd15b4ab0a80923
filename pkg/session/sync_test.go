package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

type recordedProgress struct{ status, notes []string }

func (p *recordedProgress) Status(m string) { p.status = append(p.status, m) }
func (p *recordedProgress) Note(m string)   { p.notes = append(p.notes, m) }

func TestSyncAppliesTheCommitWithItsSourceAndConfirmsIt(t *testing.T) {
	factory := isolate(t)
	dir, rev := repo(t, map[string]string{"deploy/a.yaml": configMap("a", "1"), "other/b.yaml": configMap("b", "1")})
	c := &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1"}}
	s := newSession(t, factory, named("web", dir, "deploy"), c)
	progress := &recordedProgress{}

	res, err := s.Sync(context.Background(), SyncRequest{Apply: apply.Options{Prune: true, Wait: true, Diff: true}, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.syncs) != 1 {
		t.Fatalf("%d applies, want 1", len(c.syncs))
	}
	opts := c.syncs[0]
	want := applyset.Source{Repo: dir, Path: "deploy"}
	if opts.Revision != rev || opts.Source != want || !opts.Prune || !opts.Wait || opts.Diff || opts.DryRun {
		t.Errorf("apply options %+v; want revision %s, source %+v, prune and wait, no diff or dry run", opts, rev, want)
	}
	if res.Name != "web" || res.Repo != dir || res.Path != "deploy" || res.Revision != rev || res.Subject != "first" || len(res.Lines) != 1 || res.Lines[0].Object.Name != "a" {
		t.Errorf("result %+v %+v: want the set, source and revision, and only deploy/'s object", res, res.Result)
	}
	if len(progress.status) == 0 || !strings.Contains(strings.Join(progress.status, "\n"), "applying revision "+rev[:12]) {
		t.Errorf("progress %q does not say what is applied", progress.status)
	}
	// Naming the source by flag confirmed it on this machine.
	got, ok, err := NewTrust(factory, "web", "demo").Confirmed()
	if err != nil || !ok || got != want {
		t.Errorf("confirmed source %+v, %v, %v; want %+v", got, ok, err, want)
	}
}

func TestSyncFailuresAndRefusals(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{"a.yaml": configMap("a", "1")})
	for _, tc := range []struct {
		name   string
		result func(apply.Options) (*apply.Result, error)
		check  func(t *testing.T, res *SyncResult, err error)
	}{
		{"an object failed", func(apply.Options) (*apply.Result, error) {
			return &apply.Result{Lines: []apply.Line{{Action: apply.Failed, Origin: "a.yaml:1", Message: "denied"}}, Counts: applyset.Counts{Failed: 1}}, nil
		}, func(t *testing.T, res *SyncResult, err error) {
			var failed *FailedError
			if !errors.As(err, &failed) || res == nil || res.Result == nil || !strings.Contains(err.Error(), "a.yaml:1): denied") || !strings.Contains(err.Error(), "the revision was not recorded as synced") {
				t.Errorf("got %v, %+v; want a FailedError naming the object, with the result", err, res)
			}
		}},
		{"an empty revision", func(apply.Options) (*apply.Result, error) {
			return &apply.Result{}, fmt.Errorf("refused: %w", apply.ErrEmpty)
		}, func(t *testing.T, _ *SyncResult, err error) {
			var re *RevisionError
			if !errors.As(err, &re) || !re.Bad() || !errors.Is(err, apply.ErrEmpty) {
				t.Errorf("got %v; want a bad RevisionError wrapping ErrEmpty", err)
			}
		}},
		{"an object outside the set", func(apply.Options) (*apply.Result, error) {
			return &apply.Result{}, fmt.Errorf("refused: %w", apply.ErrOutside)
		}, func(t *testing.T, _ *SyncResult, err error) {
			var re *RevisionError
			if errors.As(err, &re) || !errors.Is(err, apply.ErrOutside) {
				t.Errorf("got %v; want ErrOutside, not a RevisionError: the cluster may change", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1"}, result: tc.result}
			res, err := newSession(t, factory, named("web", dir, ""), c).Sync(context.Background(), SyncRequest{})
			tc.check(t, res, err)
		})
	}
}

func TestReadRendersACommitOnceAndClassifiesItsFailures(t *testing.T) {
	factory := isolate(t)
	dir, rev := repo(t, map[string]string{"a.yaml": configMap("a", "1")})
	c := &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1"}}
	s := newSession(t, factory, named("web", dir, ""), c)
	first, err := s.Read(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Read(context.Background(), rev)
	if err != nil {
		t.Fatal(err)
	}
	if &first.Objects[0] != &again.Objects[0] || c.loads != 2 {
		t.Errorf("the same commit was rendered twice, or the set not read again (%d loads)", c.loads)
	}

	bad := commit(t, dir, "bad", map[string]string{"b.yaml": "kind: [\n"})
	_, err = s.Read(context.Background(), bad)
	var re *RevisionError
	if !errors.As(err, &re) || !re.Bad() || re.Revision != bad || !strings.Contains(err.Error(), "b.yaml") {
		t.Errorf("reading a commit that does not decode: %v; want a bad RevisionError naming b.yaml", err)
	}

	c.planFn = func([]render.Object, apply.PlanOptions) (*apply.Plan, error) {
		return nil, apierrors.NewServiceUnavailable("discovery is down")
	}
	_, err = s.Read(context.Background(), rev)
	if !errors.As(err, &re) || re.Bad() {
		t.Errorf("a plan that failed on the cluster: %v; want a RevisionError that is not bad", err)
	}
}

func TestReadOfAnUnknownSetWithoutASourceNamesTheSetsThere(t *testing.T) {
	factory := isolate(t)
	c := &fakeCluster{set: &applyset.Set{}, names: []string{"api", "web"}}
	_, err := newSession(t, factory, Options{Name: "wbe"}, c).Read(context.Background(), "")
	if !errors.Is(err, applyset.ErrNotFound) || !strings.Contains(err.Error(), "the sync sets there are api, web") {
		t.Fatalf("got %v; want not found, naming the sets", err)
	}
}

func TestReadOfARecordedSourceThatIsNotConfirmedFetchesNothing(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{"a.yaml": configMap("a", "1")})
	c := &fakeCluster{set: &applyset.Set{Exists: true, ID: "applyset-x-v1", Record: applyset.Record{Source: applyset.Source{Repo: dir}}}}
	_, err := newSession(t, factory, Options{Name: "web"}, c).Sync(context.Background(), SyncRequest{})
	if !errors.Is(err, sourcetrust.ErrNotConfirmed) || len(c.syncs) != 0 {
		t.Fatalf("got %v after %d applies; want a refusal before any", err, len(c.syncs))
	}
}

func TestDiffIsADryRunWithDiffsAndNoWait(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{"a.yaml": configMap("a", "1")})
	c := &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1"}}
	if _, err := newSession(t, factory, named("web", dir, ""), c).Diff(context.Background(), SyncRequest{Apply: apply.Options{Wait: true}}); err != nil {
		t.Fatal(err)
	}
	if len(c.syncs) != 1 || !c.syncs[0].Diff || c.syncs[0].Wait {
		t.Fatalf("apply options %+v; want a diff without waiting", c.syncs)
	}
}

func TestDriftIsCheckedOnlyAgainstTheLastGoodRevisionOfTheSameSource(t *testing.T) {
	factory := isolate(t)
	dir, rev := repo(t, map[string]string{"a.yaml": configMap("a", "1")})
	src := applyset.Source{Repo: dir}
	good := applyset.Record{Source: src, LastSyncedRevision: rev, History: []applyset.Run{{Outcome: applyset.OutcomeSucceeded}}}
	changed := func(apply.Options) (*apply.Result, error) {
		return &apply.Result{DryRun: true, Counts: applyset.Counts{Configured: 1}}, nil
	}
	for _, tc := range []struct {
		name             string
		record           applyset.Record
		result           func(apply.Options) (*apply.Result, error)
		recorded, drifts bool
	}{
		{"in sync", good, nil, true, false},
		{"changed by hand", good, changed, true, true},
		{"another revision recorded", applyset.Record{Source: src, LastSyncedRevision: "0123", History: good.History}, nil, false, false},
		{"another source recorded", applyset.Record{Source: applyset.Source{Repo: dir, Path: "x"}, LastSyncedRevision: rev, History: good.History}, nil, false, false},
		{"the last run failed", applyset.Record{Source: src, LastSyncedRevision: rev, History: []applyset.Run{{Outcome: applyset.OutcomeFailed}}}, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCluster{set: &applyset.Set{Exists: true, ID: "applyset-x-v1", Record: tc.record}, result: tc.result}
			d, err := newSession(t, factory, named("web", dir, ""), c).Drift(context.Background(), SyncRequest{Revision: rev, Apply: apply.Options{ForceConflicts: true}})
			if err != nil {
				t.Fatal(err)
			}
			if d.Recorded != tc.recorded || d.Drifted != tc.drifts {
				t.Errorf("recorded %v, drifted %v; want %v, %v", d.Recorded, d.Drifted, tc.recorded, tc.drifts)
			}
			wantSyncs := map[bool]int{true: 1, false: 0}[tc.recorded]
			if len(c.syncs) != wantSyncs || (wantSyncs == 1 && (!c.syncs[0].DryRun || !c.syncs[0].ForceConflicts)) {
				t.Errorf("applies %+v; want %d, a dry run with the request's options", c.syncs, wantSyncs)
			}
		})
	}
}

func TestStatusSummarizesTheRecordAndHidesCredentials(t *testing.T) {
	factory := isolate(t)
	now := time.Now()
	c := &fakeCluster{set: &applyset.Set{Exists: true, ID: "applyset-x-v1", Record: applyset.Record{
		Source: applyset.Source{Repo: "https://user:hunter2@git.example.com/web.git"},
		History: []applyset.Run{
			{Outcome: applyset.OutcomeFailed, Started: now, Message: "boom"},
			{Outcome: applyset.OutcomeFailed, Started: now.Add(-time.Minute)},
			{Outcome: applyset.OutcomeSucceeded, Started: now.Add(-2 * time.Minute)},
		},
	}}}
	st, err := newSession(t, factory, Options{Name: "web"}, c).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.LastRun == nil || st.LastRun.InARow != 2 || st.LastRun.Message != "boom" {
		t.Errorf("last run %+v; want 2 failed runs in a row", st.LastRun)
	}
	if strings.Contains(st.Record.Source.Repo, "hunter2") || st.Source.State != NotConfirmed {
		t.Errorf("status %+v: want no credentials and a source not confirmed", st)
	}

	c.set = &applyset.Set{}
	if _, err := newSession(t, factory, Options{Name: "web"}, c).Status(context.Background()); !errors.Is(err, applyset.ErrNotFound) {
		t.Errorf("status of a missing set: %v; want not found", err)
	}
}
