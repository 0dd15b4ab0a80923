package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// setsCluster is a fake cluster of several sets: loads, writes and syncs
// go to the set named; a sync records its run as apply does, so that the
// use cases can be run one after the other.
type setsCluster struct {
	fakeCluster
	sets    map[string]*applyset.Set // by namespace/name
	health  map[string][]apply.Member
	applied []appliedRun
	writes  int
}

// appliedRun is what one sync applied, and the record it wrote.
type appliedRun struct {
	set     string
	objects []string
	record  applyset.Record
	// suspendedBefore says that the stored set was suspended when the
	// apply began.
	suspendedBefore bool
}

func newSetsCluster() *setsCluster {
	return &setsCluster{sets: map[string]*applyset.Set{}, health: map[string][]apply.Member{}}
}

func cloneSet(s *applyset.Set) *applyset.Set {
	c := *s
	c.Record.History = slices.Clone(s.Record.History)
	c.Record.DependsOn = slices.Clone(s.Record.DependsOn)
	if s.Record.Suspended != nil {
		sp := *s.Record.Suspended
		c.Record.Suspended = &sp
	}
	return &c
}

func (c *setsCluster) loadSet(_ context.Context, name, namespace string) (*applyset.Set, error) {
	c.loads++
	if s, ok := c.sets[namespace+"/"+name]; ok {
		return cloneSet(s), nil
	}
	return &applyset.Set{Name: name, Namespace: namespace, ID: applyset.ID(name, namespace, applyset.ParentKind, "")}, nil
}

func (c *setsCluster) members(_ context.Context, set *applyset.Set) ([]apply.Member, error) {
	return c.health[set.Namespace+"/"+set.Name], nil
}

func (c *setsCluster) sync(ctx context.Context, set *applyset.Set, plan *apply.Plan, opts apply.Options) (*apply.Result, error) {
	res, err := c.fakeCluster.sync(ctx, set, plan, opts)
	if err != nil || opts.DryRun || opts.Diff {
		return res, err
	}
	run := appliedRun{set: set.Name}
	if stored, ok := c.sets[set.Namespace+"/"+set.Name]; ok {
		run.suspendedBefore = stored.Record.Suspended != nil
	}
	for _, it := range plan.Items {
		run.objects = append(run.objects, it.ID.Name)
	}
	set.Record.Add(opts.Source, applyset.Run{Revision: opts.Revision, Started: time.Now(), Outcome: applyset.OutcomeSucceeded})
	set.Exists = true
	c.sets[set.Namespace+"/"+set.Name] = cloneSet(set)
	run.record = cloneSet(set).Record
	c.applied = append(c.applied, run)
	return res, nil
}

func (c *setsCluster) writeRecord(_ context.Context, set *applyset.Set) error {
	c.writes++
	saved := cloneSet(set)
	saved.Record.NextIsRollback = false // not stored
	c.sets[set.Namespace+"/"+set.Name] = saved
	return nil
}

func (c *setsCluster) set(name string) *applyset.Set { return c.sets["demo/"+name] }

// life is a test's factory (isolated) and cluster.
type life struct {
	t       *testing.T
	factory kcmdutil.Factory
	c       *setsCluster
}

func newLife(t *testing.T) *life {
	return &life{t: t, factory: isolate(t), c: newSetsCluster()}
}

// session is a session on the cluster, with opts.
func (l *life) session(opts Options) *Session {
	s := newSession(l.t, l.factory, opts, nil)
	s.cluster = l.c
	return s
}

// onlyName is a session of the set name, without a source: a command run
// with --name only.
func (l *life) onlyName(name string) *Session { return l.session(Options{Name: name}) }

// syncAt syncs rev of dir/path into the set name with a new session, as
// sync --name NAME --repo DIR --path PATH would.
func (l *life) syncAt(name, dir, path, rev string) {
	l.t.Helper()
	if _, err := l.session(named(name, dir, path)).Sync(context.Background(), SyncRequest{Revision: rev, Apply: apply.Options{Prune: true}}); err != nil {
		l.t.Fatalf("sync %s at %s: %v", name, short(rev), err)
	}
}

func TestRollbackStepsBackWithTheRunsSourceRecordsItAndSuspends(t *testing.T) {
	l := newLife(t)
	c := l.c
	dir, good := repo(t, map[string]string{"deploy/one.yaml": configMap("one", "1")})
	bad := commit(t, dir, "bad", map[string]string{"deploy/one.yaml": configMap("one", "2"), "deploy/extra.yaml": configMap("extra", "1")})
	l.syncAt("web", dir, "deploy", good)
	l.syncAt("web", dir, "deploy", good) // a resync: the same revision counts once
	l.syncAt("web", dir, "deploy", bad)

	res, err := l.onlyName("web").Rollback(context.Background(), RollbackRequest{Apply: apply.Options{Prune: true}})
	if err != nil {
		t.Fatal(err)
	}
	last := c.applied[len(c.applied)-1]
	if res.Revision != good || !slices.Equal(last.objects, []string{"one"}) {
		t.Fatalf("rolled back to %s applying %v; want %s with only its object (extra is pruned by the sync)", short(res.Revision), last.objects, short(good))
	}
	opts := c.syncs[len(c.syncs)-1]
	if opts.Source != (applyset.Source{Repo: dir, Path: "deploy"}) || !opts.Prune {
		t.Errorf("the rollback applied with %+v; want the run's source and prune", opts)
	}
	rec := c.set("web").Record
	if h := rec.History[0]; !h.Rollback || h.Revision != good || rec.History[1].Rollback {
		t.Errorf("history %+v: want the newest run to be the rollback to %s", rec.History, short(good))
	}
	sp := rec.Suspended
	if sp == nil || sp.By != "kubeconfig user u" || sp.Reason != "rolled back to "+short(good)+" by kubeconfig user u" || time.Since(sp.At) > time.Minute {
		t.Fatalf("suspension %+v; want it rolled back by the kubeconfig's user, now", sp)
	}

	// Suspended: a sync is refused and writes nothing, unless forced.
	before := len(c.applied)
	_, err = l.onlyName("web").Sync(context.Background(), SyncRequest{})
	var suspended *SuspendedError
	if !errors.As(err, &suspended) || !IsHeld(err) || !strings.Contains(err.Error(), "rolled back to "+short(good)) || !strings.Contains(err.Error(), "kubectl gitops resume --name web") {
		t.Fatalf("sync of the suspended set: %v; want a SuspendedError saying why and how to resume", err)
	}
	if len(c.applied) != before {
		t.Fatal("the suspended set was synced")
	}
	if _, err := l.onlyName("web").Sync(context.Background(), SyncRequest{Force: true}); err != nil || len(c.applied) != before+1 {
		t.Fatalf("sync --force: %v", err)
	}
	if c.set("web").Record.Suspended == nil {
		t.Error("sync --force ended the suspension")
	}
	// A dry run writes nothing and is let through.
	if _, err := l.onlyName("web").Sync(context.Background(), SyncRequest{Apply: apply.Options{DryRun: true}}); err != nil {
		t.Errorf("dry run of a suspended set: %v", err)
	}
}

func TestRollbackTo(t *testing.T) {
	l := newLife(t)
	c := l.c
	dir, first := repo(t, map[string]string{"one.yaml": configMap("one", "1")})
	second := commit(t, dir, "second", map[string]string{"one.yaml": configMap("one", "2")})
	outside := commit(t, dir, "never synced", map[string]string{"one.yaml": configMap("one", "3")})
	third := commit(t, dir, "third", map[string]string{"one.yaml": configMap("one", "4")})
	l.syncAt("web", dir, "", first)
	l.syncAt("web", dir, "", second)
	l.syncAt("web", dir, "", third)
	start := cloneSet(c.set("web"))

	for _, tc := range []struct {
		name, to string
		steps    int
		want     string // revision synced, or "" for a refusal
		err      string
	}{
		{"a short revision of the history", first[:7], 0, first, ""},
		{"two steps back", "", 2, first, ""},
		{"a commit of the repository outside the history", outside[:10], 0, outside, ""},
		{"no such commit", "0123456789abcdef", 0, "", "is neither in the history of sync set \"web\""},
		{"not hex", "main", 0, "", "--to \"main\" is not a commit"},
		{"too many steps", "", 5, "", "cannot go back 5 step(s): its history holds 2 successful revision(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(c.applied)
			c.sets["demo/web"] = cloneSet(start) // each case starts from the three syncs
			res, err := l.onlyName("web").Rollback(context.Background(), RollbackRequest{To: tc.to, Steps: tc.steps})
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || len(c.applied) != before || c.set("web").Record.Suspended != nil {
					t.Fatalf("got %v, %d syncs; want %q, nothing synced or suspended", err, len(c.applied)-before, tc.err)
				}
				return
			}
			if err != nil || res.Revision != tc.want || len(c.applied) != before+1 {
				t.Fatalf("got %v, %+v; want %s synced", err, res, short(tc.want))
			}
		})
	}
}

func TestRollbackUsesTheRunsSourceOnlyWhenConfirmed(t *testing.T) {
	l := newLife(t)
	c := l.c
	dir, first := repo(t, map[string]string{"v1/one.yaml": configMap("one", "1")})
	second := commit(t, dir, "moved", map[string]string{"v2/one.yaml": configMap("one", "2")})
	l.syncAt("web", dir, "v1", first)
	l.syncAt("web", dir, "v2", second) // confirms path v2 on this machine

	_, err := l.onlyName("web").Rollback(context.Background(), RollbackRequest{})
	if !errors.Is(err, sourcetrust.ErrNotConfirmed) || !strings.Contains(err.Error(), "v1") || len(c.applied) != 2 {
		t.Fatalf("rollback to a run whose recorded path is not the confirmed one: %v; want it refused, nothing synced", err)
	}
	// Naming the run's source confirms it.
	res, err := l.session(named("web", dir, "v1")).Rollback(context.Background(), RollbackRequest{})
	if err != nil || res.Revision != first || res.Path != "v1" {
		t.Fatalf("rollback --repo --path v1: %v, %+v", err, res)
	}
}

func TestSuspendAndResume(t *testing.T) {
	l := newLife(t)
	c := l.c
	dir, rev := repo(t, map[string]string{"one.yaml": configMap("one", "1")})
	if _, err := l.onlyName("web").Suspend(context.Background(), "x"); !errors.Is(err, applyset.ErrNotFound) {
		t.Fatalf("suspend of a set that does not exist: %v", err)
	}
	l.syncAt("web", dir, "", rev)

	res, err := l.onlyName("web").Suspend(context.Background(), "incident 4711")
	if err != nil || !res.Changed || res.Suspended == nil || res.Suspended.Reason != "incident 4711" || res.Suspended.By != "kubeconfig user u" || c.writes != 1 {
		t.Fatalf("suspend: %v, %+v, %d writes", err, res, c.writes)
	}
	res, err = l.onlyName("web").Suspend(context.Background(), "another")
	if err != nil || res.Changed || res.Suspended.Reason != "incident 4711" || c.writes != 1 {
		t.Fatalf("suspend again: %v, %+v; want it left as it was", err, res)
	}
	err = l.onlyName("web").Hold(context.Background(), SyncRequest{})
	if !IsHeld(err) || !strings.Contains(err.Error(), "by kubeconfig user u at ") || !strings.Contains(err.Error(), "incident 4711") {
		t.Fatalf("hold of the suspended set: %v", err)
	}
	if res, err := l.onlyName("web").Resume(context.Background()); err != nil || !res.Changed || res.Suspended != nil || c.set("web").Record.Suspended != nil {
		t.Fatalf("resume: %v, %+v", err, res)
	}
	if err := l.onlyName("web").Hold(context.Background(), SyncRequest{}); err != nil {
		t.Fatalf("hold after resume: %v", err)
	}
	if res, err := l.onlyName("web").Resume(context.Background()); err != nil || res.Changed || c.writes != 2 {
		t.Fatalf("resume again: %v, %+v; want nothing written", err, res)
	}
}

func TestDependencies(t *testing.T) {
	l := newLife(t)
	c := l.c
	dir, rev := repo(t, map[string]string{"db/db.yaml": configMap("db", "1"), "web/web.yaml": configMap("web", "1")})
	ctx := context.Background()
	syncWeb := func(deps []string) error {
		_, err := l.session(named("web", dir, "web")).Sync(ctx, SyncRequest{DependsOn: deps})
		return err
	}
	wantDep := func(err error, reason string) {
		t.Helper()
		var dep *DependencyError
		if !errors.As(err, &dep) || dep.Dependency != "db" || !strings.Contains(err.Error(), reason) || !IsHeld(err) {
			t.Fatalf("got %v; want a DependencyError naming db, saying %q", err, reason)
		}
		if c.set("web") != nil {
			t.Fatal("web was synced")
		}
	}
	wantDep(syncWeb([]string{"db"}), "it has never been synced (no configmap demo/db)")

	l.syncAt("db", dir, "db", rev)
	c.sets["demo/db"].Record.History[0].Outcome = applyset.OutcomeFailed
	c.sets["demo/db"].Record.History[0].Message = "1 object(s) failed"
	wantDep(syncWeb([]string{"db"}), "failed: 1 object(s) failed")

	l.syncAt("db", dir, "db", rev)
	c.health["demo/db"] = []apply.Member{
		{Object: applyset.ObjectID{Kind: "ConfigMap", Namespace: "demo", Name: "db"}, Health: apply.Health{Status: "Current"}},
		{Object: applyset.ObjectID{Group: "apps", Kind: "Deployment", Namespace: "demo", Name: "db"}, Health: apply.Health{Status: "InProgress", Message: "1 of 2 replicas updated"}},
	}
	wantDep(syncWeb([]string{"db", "db"}), "not healthy: Deployment/demo/db is InProgress (1 of 2 replicas updated)")

	c.health["demo/db"] = c.health["demo/db"][:1]
	if err := syncWeb([]string{"db", "db"}); err != nil {
		t.Fatalf("sync with a ready dependency: %v", err)
	}
	if got := c.set("web").Record.DependsOn; !slices.Equal(got, []string{"db"}) {
		t.Fatalf("recorded dependencies %v, want [db]", got)
	}

	// Later syncs, without --depends-on, follow the recorded dependencies.
	c.health["demo/db"][0].Health.Status = "Failed"
	if err := l.onlyName("web").Hold(ctx, SyncRequest{}); !IsHeld(err) || !strings.Contains(err.Error(), `depends on "db"`) {
		t.Fatalf("hold with the recorded dependency unhealthy: %v", err)
	}
	c.health["demo/db"][0].Health.Status = "Current"

	// A cycle through the records is refused; naming none breaks it.
	c.sets["demo/db"].Record.DependsOn = []string{"other/x", "web"}
	var cycle *CycleError
	if err := syncWeb(nil); !errors.As(err, &cycle) || !strings.Contains(err.Error(), "web -> db -> web") {
		t.Fatalf("sync in a cycle: %v; want web -> db -> web", err)
	}
	if err := syncWeb([]string{""}); err != nil || len(c.set("web").Record.DependsOn) != 0 {
		t.Fatalf("sync --depends-on '': %v, recorded %v", err, c.set("web").Record.DependsOn)
	}

	for _, bad := range [][]string{{"web"}, {"demo/web"}, {"Not_A_Name"}, {"a/b/c"}} {
		if err := syncWeb(bad); err == nil || !strings.Contains(err.Error(), "--depends-on") {
			t.Errorf("--depends-on %v: %v", bad, err)
		}
	}
}

// A run's source read back from the cluster is shown without credentials,
// as the record's own source is.
func TestStatusRedactsTheRunsSources(t *testing.T) {
	l := newLife(t)
	l.c.sets["demo/web"] = &applyset.Set{Name: "web", Namespace: "demo", Exists: true, Record: applyset.Record{
		Source:  applyset.Source{Repo: "https://alice:2024Winter@127.0.0.1:1/org/repo.git"},
		History: []applyset.Run{{Revision: "a", Source: &applyset.Source{Repo: "https://alice:2024Winter@127.0.0.1:1/org/repo.git"}}},
	}}
	st, err := l.onlyName("web").Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Record.History[0].Source.Repo; strings.Contains(got, "Winter") || !strings.Contains(got, "127.0.0.1:1/org/repo.git") {
		t.Errorf("the run's source is shown as %q", got)
	}
}

// A second rollback goes further back: the runs that a rollback undid are
// not steps back.
func TestRollbackAgainGoesFurtherBack(t *testing.T) {
	l := newLife(t)
	c := l.c
	dir, first := repo(t, map[string]string{"one.yaml": configMap("one", "1")})
	second := commit(t, dir, "second", map[string]string{"one.yaml": configMap("one", "2")})
	bad := commit(t, dir, "bad", map[string]string{"one.yaml": configMap("one", "3")})
	l.syncAt("web", dir, "", first)
	l.syncAt("web", dir, "", second)
	l.syncAt("web", dir, "", bad)

	ctx := context.Background()
	res, err := l.onlyName("web").Rollback(ctx, RollbackRequest{})
	if err != nil || res.Revision != second {
		t.Fatalf("first rollback: %v, %+v; want %s", err, res, short(second))
	}
	if last := c.applied[len(c.applied)-1]; c.writes != 1 || !last.suspendedBefore {
		t.Fatalf("the suspension was written %d times, before the apply: %v; want once, before", c.writes, last.suspendedBefore)
	}
	res, err = l.onlyName("web").Rollback(ctx, RollbackRequest{})
	if err != nil || res.Revision != first {
		t.Fatalf("second rollback: %v, %+v; want %s, not the bad revision it undid", err, res, short(first))
	}
	_, err = l.onlyName("web").Rollback(ctx, RollbackRequest{})
	if err == nil || !strings.Contains(err.Error(), "cannot go back 1 step(s)") {
		t.Fatalf("third rollback: %v; want nothing further back", err)
	}
	// --to still reaches any revision of the history, the undone one too.
	if res, err := l.onlyName("web").Rollback(ctx, RollbackRequest{To: bad[:8]}); err != nil || res.Revision != bad {
		t.Fatalf("rollback --to the bad revision: %v, %+v", err, res)
	}
}
