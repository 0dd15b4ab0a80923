package apply_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

func TestObjectsOutsideTheSetAreRefusedUntilAdopted(t *testing.T) {
	e := newEnv(t)
	byHand := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-hand"}, Data: map[string]string{"k": "v"}}
	created, err := e.kube.CoreV1().ConfigMaps(e.ns).Create(e.ctx, byHand, metav1.CreateOptions{FieldManager: "kubectl-create"})
	if err != nil {
		t.Fatal(err)
	}
	helm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "chart",
		Labels:      map[string]string{"app.kubernetes.io/managed-by": "Helm"},
		Annotations: map[string]string{"meta.helm.sh/release-name": "web", "meta.helm.sh/release-namespace": e.ns}}}
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Create(e.ctx, helm, metav1.CreateOptions{FieldManager: "helm"}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"by-hand.yaml": configMap("by-hand", map[string]string{"k": "v"}),
		"chart.yaml":   configMap("chart", nil),
		"new.yaml":     configMap("new", nil),
	}

	_, err = e.trySync(files, apply.Options{Prune: true})
	if !errors.Is(err, apply.ErrOutside) {
		t.Fatalf("err = %v, want ErrOutside", err)
	}
	for _, want := range []string{"by-hand.yaml", "ConfigMap/" + e.ns + "/by-hand", "kubectl-create", "chart.yaml", `Helm release "web"`, "--adopt"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "new.yaml") {
		t.Errorf("the refusal names an object that does not exist yet:\n%v", err)
	}
	// Nothing was written: not the new object, not the parent, not the
	// objects outside the set.
	if _, err := e.getConfigMap("new"); !apierrors.IsNotFound(err) {
		t.Fatalf("configmap new was created by a refused run: %v", err)
	}
	if e.load().Exists {
		t.Fatal("the parent was created by a refused run")
	}
	if cm, _ := e.getConfigMap("by-hand"); cm.ResourceVersion != created.ResourceVersion {
		t.Fatalf("by-hand was changed by a refused run: %v", cm.Labels)
	}
	// A dry run is refused the same way.
	if _, err := e.trySync(files, apply.Options{Prune: true, DryRun: true}); !errors.Is(err, apply.ErrOutside) {
		t.Fatalf("dry run: err = %v, want ErrOutside", err)
	}

	res := e.sync(files, apply.Options{Prune: true, Adopt: true})
	assertActions(t, res, map[string]apply.Action{
		"ConfigMap/" + e.ns + "/by-hand": apply.Configured,
		"ConfigMap/" + e.ns + "/chart":   apply.Configured,
		"ConfigMap/" + e.ns + "/new":     apply.Created,
	})
	cm, err := e.getConfigMap("by-hand")
	if err != nil {
		t.Fatal(err)
	}
	if cm.UID != created.UID || cm.Labels[applyset.LabelPartOf] != e.load().ID {
		t.Fatalf("after --adopt: uid %s (was %s), labels %v", cm.UID, created.UID, cm.Labels)
	}
	// Now members, they need no --adopt any more.
	res = e.sync(files, apply.Options{Prune: true})
	if res.Counts.Unchanged != 3 {
		t.Fatalf("resync after adoption: %+v", res.Counts)
	}
}

func TestAMemberWhoseLabelWasRemovedIsTakenBack(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{"a.yaml": configMap("a", map[string]string{"k": "1"})}
	e.sync(files, apply.Options{Prune: true})
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, applyset.LabelPartOf)
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Patch(e.ctx, "a", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	// The set's own field manager applied it: it is still the set's.
	res := e.sync(files, apply.Options{Prune: true})
	assertActions(t, res, map[string]apply.Action{"ConfigMap/" + e.ns + "/a": apply.Configured})
	if cm, _ := e.getConfigMap("a"); cm.Labels[applyset.LabelPartOf] != e.load().ID {
		t.Fatalf("labels %v", cm.Labels)
	}
}

func TestApplySetParentsAreNeverApplied(t *testing.T) {
	e := newEnv(t)
	other := *e
	other.name = "other"
	other.sync(map[string]string{"o.yaml": configMap("o", nil)}, apply.Options{Prune: true})
	otherParent, err := e.getConfigMap("other")
	if err != nil {
		t.Fatal(err)
	}

	withLabel := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: copied\n  labels:\n    applyset.kubernetes.io/id: " + applyset.ID("other", e.ns, "ConfigMap", "") + "\n"
	withTooling := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tool\n  annotations:\n    applyset.kubernetes.io/tooling: kubectl/v1.37.0\n"
	for name, files := range map[string]map[string]string{
		"another set's parent, by name":   {"p.yaml": configMap("other", map[string]string{"k": "x"})},
		"this set's own parent":           {"p.yaml": configMap(e.name, nil)},
		"a manifest with the id label":    {"p.yaml": withLabel},
		"a manifest with the annotations": {"p.yaml": withTooling},
	} {
		files["new.yaml"] = configMap("new", nil)
		_, err := e.trySync(files, apply.Options{Prune: true, Adopt: true})
		if !errors.Is(err, apply.ErrParent) || !strings.Contains(err.Error(), "p.yaml") {
			t.Errorf("%s: err = %v, want ErrParent naming p.yaml", name, err)
		}
	}
	if _, err := e.getConfigMap("new"); !apierrors.IsNotFound(err) {
		t.Fatalf("configmap new was created by a refused run: %v", err)
	}
	if e.load().Exists {
		t.Fatal("the parent of a refused run was created")
	}
	if cm, _ := e.getConfigMap("other"); cm.ResourceVersion != otherParent.ResourceVersion {
		t.Fatalf("the other set's parent was changed")
	}
}

func TestEmptyPlanDoesNotPruneTheSetUnlessAllowed(t *testing.T) {
	e := newEnv(t)
	// A set with no members may sync nothing: there is nothing to lose.
	e.sync(map[string]string{"README.md": "# nothing yet\n"}, apply.Options{Prune: true, Revision: "empty0"})

	e.sync(map[string]string{"a.yaml": configMap("a", nil), "b.yaml": configMap("b", nil)}, apply.Options{Prune: true, Revision: "r1"})
	parent, _ := e.getConfigMap(e.name)
	for _, files := range []map[string]string{
		{"README.md": "# moved to another repository\n"},
		{"kustomization.yaml": "resources: []\n"},
		{"a.yaml.bak": configMap("a", nil)},
	} {
		for _, dryRun := range []bool{false, true} {
			_, err := e.trySync(files, apply.Options{Prune: true, DryRun: dryRun, Revision: "0123456789abcdef"})
			if !errors.Is(err, apply.ErrEmpty) {
				t.Fatalf("%v (dry run %v): err = %v, want ErrEmpty", files, dryRun, err)
			}
			for _, want := range []string{"--allow-empty", "0123456789ab", "all 2 objects", "ConfigMap/" + e.ns + "/a"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal does not say %q: %v", want, err)
				}
			}
		}
	}
	for _, name := range []string{"a", "b"} {
		if _, err := e.getConfigMap(name); err != nil {
			t.Fatalf("%s was pruned by a refused run: %v", name, err)
		}
	}
	if cm, _ := e.getConfigMap(e.name); cm.ResourceVersion != parent.ResourceVersion {
		t.Fatal("the parent was written by a refused run")
	}
	// Without pruning, nothing is lost, and nothing refused.
	e.sync(map[string]string{"README.md": "x\n"}, apply.Options{Prune: false, Revision: "r2"})

	res := e.sync(map[string]string{"README.md": "x\n"}, apply.Options{Prune: true, AllowEmpty: true, Revision: "r3"})
	assertActions(t, res, map[string]apply.Action{"ConfigMap/" + e.ns + "/a": apply.Pruned, "ConfigMap/" + e.ns + "/b": apply.Pruned})
}

// TestTwoSetsRacingForOneObject starts two syncs of two sets that both hold
// the same object, at the same moment, with --force-conflicts (as watch
// does): one set must end up owning it, the other must fail naming the
// owner, and the object's label must never name the loser, in any version
// of the object that the API server stored.
func TestTwoSetsRacingForOneObject(t *testing.T) {
	e := newEnv(t)
	a, b := *e, *e
	a.name, b.name = "race-a", "race-b"
	a.client, b.client = newClient(t), newClient(t)
	ids := map[string]string{a.name: applyset.ID(a.name, e.ns, applyset.ParentKind, ""), b.name: applyset.ID(b.name, e.ns, applyset.ParentKind, "")}
	winners := map[string]int{}
	atWrite := 0 // rounds the loser lost at its write, not at its check
	for i := range 6 {
		shared := fmt.Sprintf("shared-%d", i)
		w, err := e.kube.CoreV1().ConfigMaps(e.ns).Watch(e.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + shared})
		if err != nil {
			t.Fatal(err)
		}
		type outcome struct {
			res *apply.Result
			err error
		}
		outcomes := map[string]outcome{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, s := range []*env{&a, &b} {
			p, err := s.plan(map[string]string{
				"shared.yaml": configMap(shared, map[string]string{"k": "same"}),
				"own.yaml":    configMap(fmt.Sprintf("%s-%d", s.name, i), nil),
			})
			if err != nil {
				t.Fatal(err)
			}
			set := s.load()
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := apply.Sync(e.ctx, s.client, set, p, apply.Options{Prune: true, ForceConflicts: true, Revision: "r"})
				mu.Lock()
				defer mu.Unlock()
				outcomes[s.name] = outcome{res, err}
			}()
		}
		close(start)
		wg.Wait()

		var winner, loser, loserMsg string
		for name, o := range outcomes {
			msg := ""
			if o.err != nil {
				msg = o.err.Error()
			} else {
				for _, l := range o.res.Lines {
					if l.Object.Name == shared && l.Action == apply.Failed {
						msg = l.Message
					}
				}
			}
			if msg == "" {
				if winner != "" {
					t.Fatalf("round %d: both sets synced %s: %s and %s", i, shared, winner, name)
				}
				winner = name
				continue
			}
			if !strings.Contains(msg, apply.ErrForeign.Error()) {
				t.Fatalf("round %d: %s failed for another reason: %s", i, name, msg)
			}
			loser, loserMsg = name, msg
		}
		if winner == "" || loser == "" {
			t.Fatalf("round %d: want one winner and one loser, got %+v", i, outcomes)
		}
		winners[winner]++
		if strings.Contains(loserMsg, "while this sync ran") {
			atWrite++
		}
		if !strings.Contains(loserMsg, fmt.Sprintf("%q", winner)) {
			t.Errorf("round %d: the loser %s does not name the owner %s: %s", i, loser, winner, loserMsg)
		}
		cm, err := e.getConfigMap(shared)
		if err != nil {
			t.Fatal(err)
		}
		if cm.Labels[applyset.LabelPartOf] != ids[winner] {
			t.Fatalf("round %d: %s is labelled %q, want the winner %s", i, shared, cm.Labels[applyset.LabelPartOf], winner)
		}
		// Every version the API server stored was labelled for the winner.
		deadline := time.After(500 * time.Millisecond)
	events:
		for {
			select {
			case ev := <-w.ResultChan():
				if got, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type != watch.Deleted {
					if v := got.Labels[applyset.LabelPartOf]; v != ids[winner] {
						t.Fatalf("round %d: a version of %s (resourceVersion %s) was labelled %q, not the winner's", i, shared, got.ResourceVersion, v)
					}
				}
			case <-deadline:
				break events
			}
		}
		w.Stop()
	}
	t.Logf("winners: %v; lost at the write: %d of 6", winners, atWrite)
}

// TestMembersOfEarlierVersionsMoveToTheSetsFieldManager: objects that an
// earlier version applied with the shared field manager kubectl-gitops are
// the set's own: they can be changed and lose fields without a conflict, and
// end up managed by the set's manager alone.
func TestMembersOfEarlierVersionsMoveToTheSetsFieldManager(t *testing.T) {
	e := newEnv(t)
	id := applyset.ID(e.name, e.ns, applyset.ParentKind, "")
	for _, name := range []string{"old", "same"} {
		body := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"labels":{%q:%q}},"data":{"k":"1","gone":"x"}}`, name, applyset.LabelPartOf, id)
		if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Patch(e.ctx, name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: apply.FieldManager}); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"old.yaml":  configMap("old", map[string]string{"k": "2"}),
		"same.yaml": configMap("same", map[string]string{"k": "1", "gone": "x"}),
	}
	res := e.sync(files, apply.Options{Prune: true, DryRun: true})
	assertActions(t, res, map[string]apply.Action{"ConfigMap/" + e.ns + "/old": apply.Configured, "ConfigMap/" + e.ns + "/same": apply.Unchanged})

	res = e.sync(files, apply.Options{Prune: true})
	assertActions(t, res, map[string]apply.Action{"ConfigMap/" + e.ns + "/old": apply.Configured, "ConfigMap/" + e.ns + "/same": apply.Unchanged})
	manager := apply.SetFieldManager(e.load())
	for _, name := range []string{"old", "same"} {
		cm, err := e.getConfigMap(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(cm.ManagedFields) != 1 || cm.ManagedFields[0].Manager != manager || cm.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
			t.Fatalf("%s: managed fields %+v, want one Apply by %s", name, cm.ManagedFields, manager)
		}
	}
	if cm, _ := e.getConfigMap("old"); len(cm.Data) != 1 || cm.Data["k"] != "2" {
		t.Fatalf("old: data %v, want only k=2", cm.Data)
	}
	// Fields removed from git are removed: the set's manager owns them now.
	files["same.yaml"] = configMap("same", map[string]string{"k": "3"})
	res = e.sync(files, apply.Options{Prune: true})
	assertActions(t, res, map[string]apply.Action{"ConfigMap/" + e.ns + "/old": apply.Unchanged, "ConfigMap/" + e.ns + "/same": apply.Configured})
	if cm, _ := e.getConfigMap("same"); len(cm.Data) != 1 || cm.Data["k"] != "3" {
		t.Fatalf("same: data %v, want only k=3", cm.Data)
	}
}
