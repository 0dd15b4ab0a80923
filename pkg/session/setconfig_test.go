package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

const setConfigHead = "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: SyncSet\n"

const dbRule = `healthChecks:
  - apiVersion: example.com/v1
    kind: Database
    current: status.phase == 'Ready'
    failed: status.phase == 'Broken'
`

// setsByName is the fake cluster with the record each set passed to sync
// kept, and other sets (dependencies) read from deps.
type setsByName struct {
	*fakeCluster
	deps   map[string]*applyset.Set
	synced []*applyset.Set
}

func (c *setsByName) loadSet(ctx context.Context, name, namespace string) (*applyset.Set, error) {
	if d, ok := c.deps[name]; ok {
		set := *d
		set.Name, set.Namespace = name, namespace
		return &set, nil
	}
	return c.fakeCluster.loadSet(ctx, name, namespace)
}

func (c *setsByName) sync(ctx context.Context, set *applyset.Set, plan *apply.Plan, opts apply.Options) (*apply.Result, error) {
	c.synced = append(c.synced, set)
	return c.fakeCluster.sync(ctx, set, plan, opts)
}

// TestSyncPassesTheSetConfigsRulesAndRecordsThem: the rules of
// .gitops-set.yaml at the set's path (not a parent's) go to apply, with
// their file:line, and into the record a run writes; a dry run records
// nothing.
func TestSyncPassesTheSetConfigsRulesAndRecordsThem(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{
		"deploy/a.yaml":           configMap("a", "1"),
		"deploy/.gitops-set.yaml": setConfigHead + dbRule,
		".gitops-set.yaml":        setConfigHead + "dependsOn: [parent-only]\n",
	})
	c := &setsByName{fakeCluster: &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1"}}}
	res, err := newSessionOn(t, factory, named("web", dir, "deploy"), c).Sync(context.Background(), SyncRequest{Apply: apply.Options{Wait: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lines) != 1 {
		t.Fatalf("lines %+v: the set config must not be read as a manifest", res.Lines)
	}
	rules := c.syncs[0].HealthRules
	if len(rules) != 1 || rules[0].Kind != "Database" || rules[0].Origin != "deploy/.gitops-set.yaml:4" {
		t.Fatalf("apply got rules %+v; want the Database rule of deploy/.gitops-set.yaml:4", rules)
	}
	rec := c.synced[0].Record
	if len(rec.HealthChecks) != 1 || rec.HealthChecks[0].Current != "status.phase == 'Ready'" || rec.HealthChecks[0].Origin != "deploy/.gitops-set.yaml:4" {
		t.Fatalf("recorded rules %+v", rec.HealthChecks)
	}
	if len(rec.DependsOn) != 0 {
		t.Fatalf("recorded dependencies %v: the root's set config is not the set's", rec.DependsOn)
	}

	// A dry run passes the rules, and leaves the record's alone.
	c.set = &applyset.Set{ID: "applyset-x-v1", Exists: true}
	if _, err := newSessionOn(t, factory, named("web", dir, "deploy"), c).Sync(context.Background(), SyncRequest{Apply: apply.Options{DryRun: true}}); err != nil {
		t.Fatal(err)
	}
	if got := c.syncs[1].HealthRules; len(got) != 1 {
		t.Fatalf("dry run got rules %+v", got)
	}
	if got := c.synced[1].Record.HealthChecks; got != nil {
		t.Fatalf("dry run recorded rules %+v", got)
	}
}

func newSessionOn(t *testing.T, factory kcmdutil.Factory, opts Options, c *setsByName) *Session {
	t.Helper()
	s := newSession(t, factory, opts, c.fakeCluster)
	s.cluster = c
	return s
}

// TestSyncStopsOnABadSetConfigBeforeAnyWrite: a rule that does not
// compile, an unknown field, a set depending on itself: a bad revision
// naming file:line, and nothing applied.
func TestSyncStopsOnABadSetConfigBeforeAnyWrite(t *testing.T) {
	factory := isolate(t)
	for _, tc := range []struct{ name, config, want string }{
		{"rule does not compile", setConfigHead + strings.Replace(dbRule, "status.phase == 'Ready'", "status.phase ==", 1), `deploy/.gitops-set.yaml:4: health rule for example.com/v1 Database: current "status.phase ==" does not compile`},
		{"unknown field", setConfigHead + "healthcheck: []\n", `deploy/.gitops-set.yaml:3: unknown field "healthcheck"`},
		{"itself", setConfigHead + "dependsOn:\n  - db\n  - demo/web\n", `deploy/.gitops-set.yaml:5: dependsOn: sync set "web" cannot depend on itself`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := repo(t, map[string]string{"deploy/a.yaml": configMap("a", "1"), "deploy/.gitops-set.yaml": tc.config})
			c := &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1"}}
			_, err := newSession(t, factory, named("web", dir, "deploy"), c).Sync(context.Background(), SyncRequest{})
			var re *RevisionError
			if !errors.As(err, &re) || !re.Bad() || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want a bad revision saying %q", err, tc.want)
			}
			if len(c.syncs) != 0 {
				t.Fatalf("%d applies; want none", len(c.syncs))
			}
		})
	}
}

// TestSyncDependenciesFromTheSetConfig: the config's dependsOn holds the
// set while the dependency is not ready and is recorded; --depends-on
// wins over it; a config without dependsOn leaves the recorded ones.
func TestSyncDependenciesFromTheSetConfig(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{"deploy/a.yaml": configMap("a", "1"), "deploy/.gitops-set.yaml": setConfigHead + "dependsOn: [db]\n"})
	now := time.Now()
	ready := &applyset.Set{Exists: true, ID: "applyset-db-v1", Record: applyset.Record{LastSyncedRevision: "abc", History: []applyset.Run{{Revision: "abc", Outcome: applyset.OutcomeSucceeded, Started: now}}}}
	c := &setsByName{fakeCluster: &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1", Exists: true}}, deps: map[string]*applyset.Set{"db": {}}}

	_, err := newSessionOn(t, factory, named("web", dir, "deploy"), c).Sync(context.Background(), SyncRequest{})
	var dep *DependencyError
	if !errors.As(err, &dep) || dep.Dependency != "db" || !strings.Contains(err.Error(), "never been synced") || !strings.Contains(err.Error(), ".gitops-set.yaml") {
		t.Fatalf("got %v; want db not ready", err)
	}
	if len(c.syncs) != 0 {
		t.Fatal("applied while the dependency was not ready")
	}

	// --depends-on "" wins over the config.
	if _, err := newSessionOn(t, factory, named("web", dir, "deploy"), c).Sync(context.Background(), SyncRequest{DependsOn: []string{}}); err != nil {
		t.Fatalf("with --depends-on '': %v", err)
	}
	if got := c.synced[0].Record.DependsOn; len(got) != 0 {
		t.Fatalf("recorded %v; want none", got)
	}

	// Once db is ready, the config's dependency is followed and recorded.
	c.deps["db"] = ready
	if _, err := newSessionOn(t, factory, named("web", dir, "deploy"), c).Sync(context.Background(), SyncRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := c.synced[1].Record.DependsOn; len(got) != 1 || got[0] != "db" {
		t.Fatalf("recorded %v; want [db]", got)
	}

	// A config without dependsOn follows the recorded ones.
	commit(t, dir, "no dependsOn", map[string]string{"deploy/.gitops-set.yaml": setConfigHead})
	c.set.Record.DependsOn = []string{"cache"}
	_, err = newSessionOn(t, factory, named("web", dir, "deploy"), c).Sync(context.Background(), SyncRequest{})
	if !errors.As(err, &dep) || dep.Dependency != "cache" {
		t.Fatalf("got %v; want the recorded cache not ready", err)
	}
}

// TestRecordedRulesJudgeStatus: the rules a record keeps compile with
// their origin; a record whose rules do not compile says so in a note.
func TestRecordedRulesJudgeStatus(t *testing.T) {
	set := &applyset.Set{Name: "web", Record: applyset.Record{HealthChecks: []applyset.HealthCheck{{APIVersion: "example.com/v1", Kind: "Database", Current: "status.phase == 'Ready'", Failed: "status.phase == 'Broken'", Origin: "deploy/.gitops-set.yaml:4"}}}}
	checker, err := recordedChecker(set)
	if err != nil {
		t.Fatal(err)
	}
	res, err := checker.Status(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Database", "status": map[string]any{"phase": "Broken"}}})
	if err != nil || res.Status != status.FailedStatus || !strings.Contains(res.Message, "recorded from deploy/.gitops-set.yaml:4") {
		t.Fatalf("status %+v, %v", res, err)
	}

	factory := isolate(t)
	c := &fakeCluster{set: &applyset.Set{Exists: true, ID: "applyset-x-v1", Record: set.Record}}
	st, err := newSession(t, factory, Options{Name: "web"}, c).Status(context.Background())
	if err != nil || len(st.Notes) != 1 || !strings.Contains(st.Notes[0], "1 health rule(s) recorded") {
		t.Fatalf("notes %q, %v", st.Notes, err)
	}
	c.set.Record.HealthChecks = []applyset.HealthCheck{{APIVersion: "example.com/v1", Kind: "Database", Current: "status.phase =="}}
	st, err = newSession(t, factory, Options{Name: "web"}, c).Status(context.Background())
	if err != nil || len(st.Notes) != 1 || !strings.Contains(st.Notes[0], "does not compile") || !strings.Contains(st.Notes[0], "judged by kstatus instead") {
		t.Fatalf("notes %q, %v", st.Notes, err)
	}
}
