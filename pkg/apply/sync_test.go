package apply_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kubectlapply "k8s.io/kubectl/pkg/cmd/apply"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

func TestSyncCreatesUpdatesAndPrunes(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{
		"a.yaml": configMap("a", map[string]string{"k": "1"}),
		"b.yaml": configMap("b", map[string]string{"k": "1"}),
	}
	res := e.sync(files, apply.Options{Prune: true, Revision: "r1"})
	want := map[string]apply.Action{"ConfigMap/" + e.ns + "/a": apply.Created, "ConfigMap/" + e.ns + "/b": apply.Created}
	assertActions(t, res, want)

	// Nothing changed: nothing is written, and it says so.
	res = e.sync(files, apply.Options{Prune: true, Revision: "r2"})
	want = map[string]apply.Action{"ConfigMap/" + e.ns + "/a": apply.Unchanged, "ConfigMap/" + e.ns + "/b": apply.Unchanged}
	assertActions(t, res, want)

	// A change in git is applied; a file removed from git is pruned.
	files = map[string]string{"a.yaml": configMap("a", map[string]string{"k": "2"})}
	res = e.sync(files, apply.Options{Prune: true, Revision: "r3"})
	want = map[string]apply.Action{"ConfigMap/" + e.ns + "/a": apply.Configured, "ConfigMap/" + e.ns + "/b": apply.Pruned}
	assertActions(t, res, want)
	cm, err := e.getConfigMap("a")
	if err != nil || cm.Data["k"] != "2" {
		t.Fatalf("configmap a: %v %v, want k=2", cm.Data, err)
	}
	if _, err := e.getConfigMap("b"); !apierrors.IsNotFound(err) {
		t.Fatalf("configmap b after prune: err=%v, want not found", err)
	}

	// A hand edit of the live object is put back, even with no new commit.
	cm.Data["k"] = "by hand"
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Update(e.ctx, cm, metav1.UpdateOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	res = e.sync(files, apply.Options{Prune: true, Revision: "r3", ForceConflicts: true})
	assertActions(t, res, map[string]apply.Action{"ConfigMap/" + e.ns + "/a": apply.Configured})
	if cm, _ := e.getConfigMap("a"); cm.Data["k"] != "2" {
		t.Fatalf("hand edit not corrected: %v", cm.Data)
	}
}

func TestSyncWithoutPruneKeepsObjectsAndTheirKinds(t *testing.T) {
	e := newEnv(t)
	e.sync(map[string]string{"a.yaml": configMap("a", nil), "s.yaml": secret("s", "x")}, apply.Options{Prune: true})
	res := e.sync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: false})
	if res.Counts.Pruned != 0 {
		t.Fatalf("pruned %d with prune off", res.Counts.Pruned)
	}
	if _, err := e.kube.CoreV1().Secrets(e.ns).Get(e.ctx, "s", metav1.GetOptions{}); err != nil {
		t.Fatalf("secret s deleted with prune off: %v", err)
	}
	// The parent still lists Secrets, so a later pruning run finds it.
	if set := e.load(); !set.GroupKinds[secretGK] {
		t.Fatalf("parent group-kinds %v lost Secret", set.GroupKinds)
	}
	res = e.sync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: true})
	assertActions(t, res, map[string]apply.Action{"ConfigMap/" + e.ns + "/a": apply.Unchanged, "Secret/" + e.ns + "/s": apply.Pruned})
	if set := e.load(); set.GroupKinds[secretGK] {
		t.Fatalf("parent group-kinds %v still lists Secret after narrowing", set.GroupKinds)
	}
}

func TestPruneKeepsAnnotatedObjectsAndReleasesThem(t *testing.T) {
	e := newEnv(t)
	keep := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  annotations:\n    kubectl-gitops.dev/prune: disabled\n"
	flux := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flux\n  annotations:\n    fluxcd.io/ignore: sync_only\n"
	e.sync(map[string]string{"keep.yaml": keep, "flux.yaml": flux, "a.yaml": configMap("a", nil)}, apply.Options{Prune: true})
	res := e.sync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: true})
	assertActions(t, res, map[string]apply.Action{
		"ConfigMap/" + e.ns + "/a":    apply.Unchanged,
		"ConfigMap/" + e.ns + "/keep": apply.Kept,
		"ConfigMap/" + e.ns + "/flux": apply.Kept,
	})
	for _, name := range []string{"keep", "flux"} {
		cm, err := e.getConfigMap(name)
		if err != nil {
			t.Fatalf("%s was deleted: %v", name, err)
		}
		if _, ok := cm.Labels[applyset.LabelPartOf]; ok {
			t.Fatalf("%s still carries the part-of label: %v", name, cm.Labels)
		}
	}
}

func TestSyncNeverTouchesObjectsOutsideTheSet(t *testing.T) {
	e := newEnv(t)
	// An object of the same kind and namespace, not in the set.
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bystander"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An object that belongs to another ApplySet.
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Labels: map[string]string{applyset.LabelPartOf: "applyset-other-v1"}}, Data: map[string]string{"k": "theirs"}}
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Create(e.ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: true})
	if _, err := e.getConfigMap("bystander"); err != nil {
		t.Fatalf("bystander was pruned: %v", err)
	}
	if _, err := e.getConfigMap("theirs"); err != nil {
		t.Fatalf("another set's object was pruned: %v", err)
	}

	// Adopting the other set's object is refused before anything is written.
	_, err := e.trySync(map[string]string{
		"theirs.yaml": configMap("theirs", map[string]string{"k": "ours"}),
		"new.yaml":    configMap("new", nil),
	}, apply.Options{Prune: true})
	if !errors.Is(err, apply.ErrForeign) || !strings.Contains(err.Error(), "theirs.yaml") {
		t.Fatalf("err = %v, want ErrForeign naming theirs.yaml", err)
	}
	if cm, _ := e.getConfigMap("theirs"); cm.Data["k"] != "theirs" || cm.Labels[applyset.LabelPartOf] != "applyset-other-v1" {
		t.Fatalf("the other set's object was changed: %v %v", cm.Labels, cm.Data)
	}
	if _, err := e.getConfigMap("new"); !apierrors.IsNotFound(err) {
		t.Fatalf("configmap new was applied although the run was refused: %v", err)
	}
}

func TestParentOfAnotherToolIsNotAdopted(t *testing.T) {
	e := newEnv(t)
	parent := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: e.name, Labels: map[string]string{applyset.LabelID: applyset.ID(e.name, e.ns, "ConfigMap", "")},
		Annotations: map[string]string{applyset.AnnotationTooling: "kubectl/v1.32.0"}}}
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Create(e.ctx, parent, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := applyset.Load(e.ctx, e.kube.CoreV1(), e.name, e.ns, "v1")
	if err == nil || !strings.Contains(err.Error(), "kubectl/v1.32.0") {
		t.Fatalf("err = %v, want a refusal naming the other tooling", err)
	}
	plain := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Create(e.ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyset.Load(e.ctx, e.kube.CoreV1(), "plain", e.ns, "v1"); err == nil || !strings.Contains(err.Error(), "not the parent") {
		t.Fatalf("err = %v, want a refusal of a plain ConfigMap", err)
	}
}

func TestApplySetLabelsMatchKubectl(t *testing.T) {
	e := newEnv(t)
	e.sync(map[string]string{"a.yaml": configMap("a", nil), "d.yaml": deployment("web", "")}, apply.Options{Prune: true})

	// kubectl's own code computes the same id for this parent.
	mapping, err := e.client.Mapper.RESTMapping(schema.GroupKind{Kind: "ConfigMap"})
	if err != nil {
		t.Fatal(err)
	}
	ref := &kubectlapply.ApplySetParentRef{Name: e.name, Namespace: e.ns, RESTMapping: mapping}
	want := kubectlapply.NewApplySet(ref, kubectlapply.ApplySetTooling{Name: "kubectl-gitops"}, nil, nil).ID()
	parent, err := e.getConfigMap(e.name)
	if err != nil {
		t.Fatal(err)
	}
	if parent.Labels[applyset.LabelID] != want {
		t.Fatalf("parent id %q, kubectl computes %q", parent.Labels[applyset.LabelID], want)
	}
	if got := parent.Annotations[applyset.AnnotationGKs]; got != "ConfigMap,Deployment.apps" {
		t.Fatalf("contains-group-kinds = %q", got)
	}
	if got := parent.Annotations[applyset.AnnotationTooling]; got != "kubectl-gitops/v0.0.0-test" {
		t.Fatalf("tooling = %q", got)
	}
	cm, _ := e.getConfigMap("a")
	if cm.Labels[applyset.LabelPartOf] != want {
		t.Fatalf("member label %q, want %q", cm.Labels[applyset.LabelPartOf], want)
	}
	manager := apply.SetFieldManager(e.load())
	if manager != apply.FieldManager+"/"+e.ns+"/"+e.name {
		t.Fatalf("the set's field manager is %q", manager)
	}
	for _, mf := range cm.ManagedFields {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply {
			t.Fatalf("managed fields %+v, want only an Apply by %s", mf, manager)
		}
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.sync(map[string]string{"a.yaml": configMap("a", map[string]string{"k": "1"}), "b.yaml": configMap("b", nil)}, apply.Options{Prune: true, Revision: "r1"})
	before, _ := e.getConfigMap(e.name)
	res := e.sync(map[string]string{
		"a.yaml":  configMap("a", map[string]string{"k": "2"}),
		"c.yaml":  configMap("c", nil),
		"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + e.ns + "-new\n",
		"d.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  namespace: " + e.ns + "-new\n",
	}, apply.Options{Prune: true, DryRun: true, Revision: "r2"})
	assertActions(t, res, map[string]apply.Action{
		"ConfigMap/" + e.ns + "/a":     apply.Configured,
		"ConfigMap/" + e.ns + "/b":     apply.Pruned,
		"ConfigMap/" + e.ns + "/c":     apply.Created,
		"Namespace/" + e.ns + "-new":   apply.Created,
		"ConfigMap/" + e.ns + "-new/d": apply.Created,
	})
	if cm, _ := e.getConfigMap("a"); cm.Data["k"] != "1" {
		t.Fatalf("dry run changed a: %v", cm.Data)
	}
	if _, err := e.getConfigMap("b"); err != nil {
		t.Fatalf("dry run pruned b: %v", err)
	}
	if _, err := e.getConfigMap("c"); !apierrors.IsNotFound(err) {
		t.Fatalf("dry run created c: %v", err)
	}
	after, _ := e.getConfigMap(e.name)
	if before.ResourceVersion != after.ResourceVersion {
		t.Fatalf("dry run wrote the parent")
	}
}

func TestSyncRecordsSourceRevisionAndHistory(t *testing.T) {
	e := newEnv(t)
	src := applyset.Source{Repo: "https://example.com/repo.git", Ref: "main", Path: "deploy"}
	for i := range 12 {
		e.sync(map[string]string{"a.yaml": configMap("a", map[string]string{"i": string(rune('a' + i))})}, apply.Options{Prune: true, Revision: "rev" + string(rune('a'+i)), Source: src})
	}
	rec := e.load().Record
	if rec.Source != src {
		t.Fatalf("source %+v, want %+v", rec.Source, src)
	}
	if rec.LastSyncedRevision != "revl" {
		t.Fatalf("last synced revision %q, want revl", rec.LastSyncedRevision)
	}
	if len(rec.History) != applyset.HistoryLimit {
		t.Fatalf("history has %d runs, want %d", len(rec.History), applyset.HistoryLimit)
	}
	if h := rec.History[0]; h.Revision != "revl" || h.Outcome != applyset.OutcomeSucceeded || h.Counts.Configured != 1 || h.Duration <= 0 {
		t.Fatalf("newest run %+v", h)
	}
}

func TestFailuresAreAllReportedAndNotRecordedAsSynced(t *testing.T) {
	e := newEnv(t)
	e.sync(map[string]string{"a.yaml": configMap("a", nil), "old.yaml": configMap("old", nil)}, apply.Options{Prune: true, Revision: "good"})
	bad := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\nunknownField: x\n"
	}
	res := e.sync(map[string]string{
		"a.yaml":    configMap("a", nil),
		"bad1.yaml": bad("bad1"),
		"bad2.yaml": bad("bad2"),
		"ok.yaml":   configMap("ok", nil),
	}, apply.Options{Prune: true, Revision: "bad"})
	got := actions(res)
	if got["ConfigMap/"+e.ns+"/bad1"] != apply.Failed || got["ConfigMap/"+e.ns+"/bad2"] != apply.Failed {
		t.Fatalf("actions %v: want both bad objects failed", got)
	}
	for _, l := range res.Lines {
		if l.Action == apply.Failed && !strings.Contains(l.Message, "unknownField") {
			t.Fatalf("failure message %q does not name the unknown field", l.Message)
		}
	}
	if got["ConfigMap/"+e.ns+"/ok"] != apply.Created {
		t.Fatalf("the good object was not applied: %v", got)
	}
	// Nothing is pruned after a failed apply.
	if _, err := e.getConfigMap("old"); err != nil {
		t.Fatalf("old was pruned by a failed run: %v", err)
	}
	rec := e.load().Record
	if rec.LastSyncedRevision != "good" || rec.History[0].Outcome != applyset.OutcomeFailed || rec.History[0].Counts.Failed != 2 {
		t.Fatalf("record after failure: %+v", rec)
	}
}

func TestConflictNamesTheOtherManager(t *testing.T) {
	e := newEnv(t)
	theirs := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"shared"},"data":{"k":"theirs"}}`)
	force := true
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Patch(e.ctx, "shared", types.ApplyPatchType, theirs, metav1.PatchOptions{FieldManager: "other-tool", Force: &force}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"shared.yaml": configMap("shared", map[string]string{"k": "ours"})}
	res := e.sync(files, apply.Options{Prune: true, Adopt: true})
	l := res.Lines[0]
	if l.Action != apply.Failed || !strings.Contains(l.Message, "other-tool") || !strings.Contains(l.Message, "--force-conflicts") {
		t.Fatalf("line %+v: want a failure naming other-tool and --force-conflicts", l)
	}
	res = e.sync(files, apply.Options{Prune: true, Adopt: true, ForceConflicts: true})
	if res.Lines[0].Action != apply.Configured {
		t.Fatalf("with force: %+v", res.Lines[0])
	}
	if cm, _ := e.getConfigMap("shared"); cm.Data["k"] != "ours" {
		t.Fatalf("data %v", cm.Data)
	}
}

func TestCRDAndCustomResourceInOneRun(t *testing.T) {
	e := newEnv(t)
	group := strings.ReplaceAll(e.ns, "-", "") + ".example.com"
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.` + group + `
spec:
  group: ` + group + `
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
`
	cr := "apiVersion: " + group + "/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n"
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + e.ns + "-crd\n"
	inNS := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: " + e.ns + "-crd\n"
	// File order puts the custom resource and the namespaced object first.
	res := e.sync(map[string]string{"0-cr.yaml": cr, "1-cm.yaml": inNS, "2-crd.yaml": crd, "3-ns.yaml": ns}, apply.Options{Prune: true})
	got := actions(res)
	if got["Widget/"+e.ns+"/w"] != apply.Created || got["ConfigMap/"+e.ns+"-crd/c"] != apply.Created {
		t.Fatalf("actions %v", got)
	}
	order := map[string]int{}
	for i, l := range res.Lines {
		order[l.Object.Kind] = i
	}
	if order["Namespace"] > order["ConfigMap"] || order["CustomResourceDefinition"] > order["Widget"] {
		t.Fatalf("order %v: namespaces and CRDs must come first", order)
	}

	// Removing the custom resource prunes it through the recorded kind.
	res = e.sync(map[string]string{"2-crd.yaml": crd, "3-ns.yaml": ns, "1-cm.yaml": inNS}, apply.Options{Prune: true})
	if got := actions(res)["Widget/"+e.ns+"/w"]; got != apply.Pruned {
		t.Fatalf("widget: %v", got)
	}
}

func TestPlanRejectsUnknownKindsAndDuplicates(t *testing.T) {
	e := newEnv(t)
	_, err := e.plan(map[string]string{
		"a.yaml": configMap("a", nil),
		"x.yaml": "apiVersion: nothere.example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n",
	})
	if err == nil || !strings.Contains(err.Error(), "x.yaml:1") || !strings.Contains(err.Error(), "Gadget") {
		t.Fatalf("err = %v, want unknown kind Gadget at x.yaml:1", err)
	}
	_, err = e.plan(map[string]string{
		"a.yaml": configMap("a", nil),
		"b.yaml": "---\n" + configMap("a", nil),
	})
	if err == nil || !strings.Contains(err.Error(), "a.yaml:1") || !strings.Contains(err.Error(), "b.yaml:2") {
		t.Fatalf("err = %v, want a duplicate naming a.yaml:1 and b.yaml:2", err)
	}
}

func TestWaitForRollout(t *testing.T) {
	e := newEnv(t)
	res := e.sync(map[string]string{"web.yaml": deployment("web", "")}, apply.Options{Prune: true, Wait: true, Timeout: time.Minute})
	if len(res.NotReady) != 0 {
		t.Fatalf("not ready: %v", res.NotReady)
	}
	d, err := e.kube.AppsV1().Deployments(e.ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil || d.Status.AvailableReplicas != 1 {
		t.Fatalf("deployment after wait: %+v %v", d.Status, err)
	}

	// A Deployment whose pods can never be scheduled is named on timeout.
	res = e.sync(map[string]string{"web.yaml": deployment("web", ""), "stuck.yaml": deployment("stuck", "nowhere")}, apply.Options{Prune: true, Wait: true, Timeout: 3 * time.Second})
	if len(res.NotReady) != 1 || !strings.Contains(res.NotReady[0], "Deployment/"+e.ns+"/stuck") {
		t.Fatalf("not ready = %v, want the stuck deployment", res.NotReady)
	}
	if !res.Failed() {
		t.Fatal("a timed-out wait must fail the run")
	}
	if rec := e.load().Record; rec.History[0].Outcome != applyset.OutcomeFailed {
		t.Fatalf("record %+v", rec.History[0])
	}
}

func TestDiffMasksSecretsAndShowsChanges(t *testing.T) {
	e := newEnv(t)
	e.sync(map[string]string{"s.yaml": secret("s", "old-value"), "a.yaml": configMap("a", map[string]string{"k": "1"})}, apply.Options{Prune: true})
	res := e.sync(map[string]string{"s.yaml": secret("s", "new-value"), "a.yaml": configMap("a", map[string]string{"k": "2"})}, apply.Options{Prune: true, Diff: true})
	var secretDiff, cmDiff string
	for _, l := range res.Lines {
		switch l.Object.Kind {
		case "Secret":
			secretDiff = l.Diff
		case "ConfigMap":
			cmDiff = l.Diff
		}
	}
	if !strings.Contains(cmDiff, `-  k: "1"`) || !strings.Contains(cmDiff, `+  k: "2"`) {
		t.Fatalf("configmap diff:\n%s", cmDiff)
	}
	if strings.Contains(secretDiff, "new-value") || strings.Contains(secretDiff, "b2xk") || !strings.Contains(secretDiff, "*** (after)") {
		t.Fatalf("secret diff leaks or lacks the mask:\n%s", secretDiff)
	}
	if s, _ := e.kube.CoreV1().Secrets(e.ns).Get(e.ctx, "s", metav1.GetOptions{}); string(s.Data["password"]) != "old-value" {
		t.Fatalf("diff changed the secret")
	}
}

var secretGK = schema.GroupKind{Kind: "Secret"}

func assertActions(t *testing.T, res *apply.Result, want map[string]apply.Action) {
	t.Helper()
	got := actions(res)
	if len(got) != len(want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("actions %v, want %v", got, want)
		}
	}
}

func secret(name, value string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\nstringData:\n  password: " + value + "\n"
}

func deployment(name, nodeSelector string) string {
	sel := ""
	if nodeSelector != "" {
		sel = "      nodeSelector:\n        place: " + nodeSelector + "\n"
	}
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
spec:
  replicas: 1
  selector:
    matchLabels: {app: ` + name + `}
  template:
    metadata:
      labels: {app: ` + name + `}
    spec:
` + sel + `      containers:
      - name: app
        image: example.com/app:1.0.0
`
}

func TestInterruptedRunLosesNothing(t *testing.T) {
	e := newEnv(t)
	e.sync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: true})

	// A run that brings a new kind is killed right after its first apply.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	p, err := e.plan(map[string]string{"a.yaml": configMap("a", nil), "s.yaml": secret("s", "x"), "z.yaml": configMap("z", nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = apply.Sync(ctx, e.client, e.load(), p, apply.Options{Prune: true, Concurrency: 1, Revision: "killed",
		OnLine: func(l apply.Line) {
			if l.Object.Kind == "Secret" {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the run cancelled", err)
	}
	if _, err := e.kube.CoreV1().Secrets(e.ns).Get(e.ctx, "s", metav1.GetOptions{}); err != nil {
		t.Fatalf("the secret was not applied before the interruption: %v", err)
	}
	// The parent was widened before applying, so the next run finds the
	// secret and prunes it.
	res := e.sync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: true})
	if got := actions(res)["Secret/"+e.ns+"/s"]; got != apply.Pruned {
		t.Fatalf("secret after the interrupted run: %q, want pruned (%v)", got, actions(res))
	}
}
