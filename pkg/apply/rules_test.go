package apply_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
)

// annotated returns a ConfigMap manifest with one annotation.
func annotated(name, key, value, data string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  annotations:\n    " + key + ": " + value + "\ndata:\n  k: \"" + data + "\"\n"
}

func lineOf(res *apply.Result, id string) apply.Line {
	for _, l := range res.Lines {
		if l.Object.String() == id {
			return l
		}
	}
	return apply.Line{}
}

func TestSSAIfNotPresent(t *testing.T) {
	e := newEnv(t)
	id := "ConfigMap/" + e.ns + "/filled"
	files := func(data string) map[string]string {
		return map[string]string{"f.yaml": annotated("filled", "kubectl-gitops.dev/ssa", "IfNotPresent", data)}
	}
	res := e.sync(files("from-git"), apply.Options{Prune: true})
	assertActions(t, res, map[string]apply.Action{id: apply.Created})

	// Another controller fills it; git changes too; a forced sync (as watch
	// runs) takes nothing back, and nor do a dry run and a diff.
	cm, _ := e.getConfigMap("filled")
	cm.Data["k"] = "filled-by-controller"
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Update(e.ctx, cm, metav1.UpdateOptions{FieldManager: "filler"}); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []apply.Options{{Prune: true, DryRun: true}, {Prune: true, Diff: true}, {Prune: true, ForceConflicts: true}} {
		res = e.sync(files("changed-in-git"), opts)
		l := lineOf(res, id)
		if l.Action != apply.Unchanged || !strings.HasPrefix(l.Message, "IfNotPresent") || l.Diff != "" {
			t.Fatalf("%+v: line %+v, want unchanged (IfNotPresent) without a diff", opts, l)
		}
		if cm, _ := e.getConfigMap("filled"); cm.Data["k"] != "filled-by-controller" {
			t.Fatalf("%+v: the IfNotPresent object was changed: %v", opts, cm.Data)
		}
	}
	// Still a member: deleted by hand, it is created again; out of git, pruned.
	if err := e.kube.CoreV1().ConfigMaps(e.ns).Delete(e.ctx, "filled", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res = e.sync(files("again"), apply.Options{Prune: true})
	assertActions(t, res, map[string]apply.Action{id: apply.Created})
	res = e.sync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: true})
	if got := actions(res)[id]; got != apply.Pruned {
		t.Fatalf("IfNotPresent object out of git: %q, want pruned", got)
	}

	// One that exists outside any set is left alone, not refused, not taken.
	if _, err := e.kube.CoreV1().ConfigMaps(e.ns).Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "outside"}, Data: map[string]string{"k": "mine"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res = e.sync(map[string]string{"a.yaml": configMap("a", nil), "o.yaml": annotated("outside", "kustomize.toolkit.fluxcd.io/ssa", "IfNotPresent", "git")}, apply.Options{Prune: true})
	if l := lineOf(res, "ConfigMap/"+e.ns+"/outside"); l.Action != apply.Unchanged {
		t.Fatalf("IfNotPresent object outside the set: %+v", l)
	}
	if cm, _ := e.getConfigMap("outside"); cm.Data["k"] != "mine" || cm.Labels[applyset.LabelPartOf] != "" {
		t.Fatalf("object outside the set was changed: %v %v", cm.Data, cm.Labels)
	}
}

func TestSSAIgnoreReleasesAndNeverPrunes(t *testing.T) {
	e := newEnv(t)
	id := "ConfigMap/" + e.ns + "/cm"
	e.sync(map[string]string{"a.yaml": configMap("a", nil), "cm.yaml": configMap("cm", map[string]string{"k": "1"})}, apply.Options{Prune: true})

	// The member gets the annotation (Flux v2's, any case): it is not
	// applied, and it is released from the set; a dry run only says so.
	files := map[string]string{"a.yaml": configMap("a", nil), "cm.yaml": annotated("cm", "kustomize.toolkit.fluxcd.io/ssa", "ignore", "2")}
	res := e.sync(files, apply.Options{Prune: true, Diff: true})
	if l := lineOf(res, id); l.Action != apply.Ignored || !strings.Contains(l.Message, "would be released") {
		t.Fatalf("dry run: %+v", l)
	}
	if cm, _ := e.getConfigMap("cm"); cm.Labels[applyset.LabelPartOf] == "" {
		t.Fatal("a dry run released the object")
	}
	res = e.sync(files, apply.Options{Prune: true, ForceConflicts: true})
	if l := lineOf(res, id); l.Action != apply.Ignored || !strings.Contains(l.Message, "ssa: Ignore; released from the set") {
		t.Fatalf("line %+v, want ignored and released", l)
	}
	cm, _ := e.getConfigMap("cm")
	if cm.Data["k"] != "1" || cm.Labels[applyset.LabelPartOf] != "" {
		t.Fatalf("ignored object: data %v labels %v, want untouched data and no part-of label", cm.Data, cm.Labels)
	}
	// Out of git: not pruned, as it is no member any more.
	res = e.sync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: true})
	if _, listed := actions(res)[id]; listed {
		t.Fatalf("released object still handled: %v", actions(res))
	}
	if _, err := e.getConfigMap("cm"); err != nil {
		t.Fatalf("ignored object pruned: %v", err)
	}
	// A new object marked Ignore is never created.
	res = e.sync(map[string]string{"a.yaml": configMap("a", nil), "n.yaml": annotated("new", "kubectl-gitops.dev/ssa", "Ignore", "x")}, apply.Options{Prune: true})
	if l := lineOf(res, "ConfigMap/"+e.ns+"/new"); l.Action != apply.Ignored || l.Message != "ssa: Ignore" {
		t.Fatalf("new ignored object: %+v", l)
	}
	if _, err := e.getConfigMap("new"); !apierrors.IsNotFound(err) {
		t.Fatalf("ignored object created: %v", err)
	}
}

func TestSSAMergeAppliesAndUnknownValueIsRefused(t *testing.T) {
	e := newEnv(t)
	res := e.sync(map[string]string{"m.yaml": annotated("m", "kustomize.toolkit.fluxcd.io/ssa", "Merge", "1")}, apply.Options{Prune: true})
	if l := lineOf(res, "ConfigMap/"+e.ns+"/m"); l.Action != apply.Created {
		t.Fatalf("Merge: %+v", l)
	}

	_, err := e.trySync(map[string]string{
		"m.yaml": annotated("m", "kustomize.toolkit.fluxcd.io/ssa", "Merge", "2"),
		"x.yaml": "# a comment\n" + annotated("x", "kubectl-gitops.dev/ssa", "IfMissing", "1"),
	}, apply.Options{Prune: true})
	if err == nil || !strings.Contains(err.Error(), `x.yaml:2: ConfigMap "x": annotation kubectl-gitops.dev/ssa: unknown value "IfMissing"`) {
		t.Fatalf("err = %v, want the object and its file:line named", err)
	}
	if cm, _ := e.getConfigMap("m"); cm.Data["k"] != "1" {
		t.Fatalf("a refused plan wrote: %v", cm.Data)
	}
	if _, err := e.getConfigMap("x"); !apierrors.IsNotFound(err) {
		t.Fatalf("object with an unknown policy created: %v", err)
	}
}

// TestReplicasLeftToAutoscaler syncs, as watch does (forced), a Deployment
// whose replicas are in git while a HorizontalPodAutoscaler targets it and
// another field manager scales it through the scale subresource, as the
// autoscaler does. It counts the writes of the set's field manager.
func TestReplicasLeftToAutoscaler(t *testing.T) {
	e := newEnv(t)
	id := "Deployment/" + e.ns + "/web"
	files := map[string]string{"web.yaml": strings.Replace(deployment("web", ""), "replicas: 1", "replicas: 3", 1)}
	forced := apply.Options{Prune: true, ForceConflicts: true}
	res := e.sync(files, forced)
	if len(res.Warnings) != 0 {
		t.Fatalf("warnings without an autoscaler: %v", res.Warnings)
	}
	deployments := e.kube.AppsV1().Deployments(e.ns)
	minReplicas := int32(1)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web-hpa"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    &minReplicas,
			MaxReplicas:    10,
		},
	}
	if _, err := e.kube.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Create(e.ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	manager := apply.SetFieldManager(e.load())
	// ours is the set's managed-fields entry; a change of it is a write.
	ours := func() (string, int32, int64) {
		t.Helper()
		d, err := deployments.Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range d.ManagedFields {
			if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply {
				b, _ := json.Marshal(mf)
				return string(b), *d.Spec.Replicas, d.Generation
			}
		}
		t.Fatalf("no entry of %s in %v", manager, d.ManagedFields)
		return "", 0, 0
	}
	// The first sync hands the field over at its value (3, not the default
	// 1) and stops applying it: one write.
	before, _, _ := ours()
	res = e.sync(files, forced)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], id+": spec.replicas is left to HorizontalPodAutoscaler web-hpa") {
		t.Fatalf("warnings %q, want one naming web-hpa", res.Warnings)
	}
	if l := lineOf(res, id); !strings.Contains(l.Message, "web-hpa") {
		t.Fatalf("line %+v does not say why", l)
	}
	entry, replicas, _ := ours()
	writes := 0
	if entry != before {
		writes++
	}
	if replicas != 3 || strings.Contains(entry, `"f:replicas"`) {
		t.Fatalf("after the hand-over: replicas %d (want 3), entry %s (want no f:replicas)", replicas, entry)
	}

	for _, scaled := range []int32{5, 2} {
		// The "autoscaler" scales through the scale subresource.
		scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: scaled}}
		if _, err := deployments.UpdateScale(e.ctx, "web", scale, metav1.UpdateOptions{FieldManager: "autoscaler"}); err != nil {
			t.Fatal(err)
		}
		_, _, gen := ours()
		for range 3 {
			before = entry
			e.sync(files, forced)
			var g int64
			entry, replicas, g = ours()
			if entry != before {
				writes++
			}
			if replicas != scaled || g != gen {
				t.Fatalf("forced sync took replicas back: replicas %d (want %d), generation %d (want %d)", replicas, scaled, g, gen)
			}
		}
	}
	if writes != 1 {
		t.Fatalf("the set's field manager wrote %d times over 7 syncs, want once (the hand-over)", writes)
	}

	// Without the autoscaler, git's replicas apply again.
	if err := e.kube.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Delete(e.ctx, "web-hpa", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res = e.sync(files, forced)
	if _, replicas, _ := ours(); replicas != 3 || len(res.Warnings) != 0 {
		t.Fatalf("without the autoscaler: replicas %d (want 3), warnings %v", replicas, res.Warnings)
	}
}

// TestReplicasOfANewWorkloadWithItsAutoscaler: a Deployment created with its
// HorizontalPodAutoscaler in the same sync starts with git's replicas.
func TestReplicasOfANewWorkloadWithItsAutoscaler(t *testing.T) {
	e := newEnv(t)
	hpa := `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
`
	files := map[string]string{"web.yaml": strings.Replace(deployment("web", ""), "replicas: 1", "replicas: 4", 1), "hpa.yaml": hpa}
	res := e.sync(files, apply.Options{Prune: true, ForceConflicts: true})
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "created with spec.replicas from git") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	d, err := e.kube.AppsV1().Deployments(e.ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 4 {
		t.Fatalf("new deployment: %v, want 4 replicas", err)
	}
	res = e.sync(files, apply.Options{Prune: true, ForceConflicts: true})
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "left to HorizontalPodAutoscaler web (in the repository)") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	if d, _ := e.kube.AppsV1().Deployments(e.ns).Get(e.ctx, "web", metav1.GetOptions{}); *d.Spec.Replicas != 4 {
		t.Fatalf("replicas %d after leaving them to the autoscaler, want 4 kept", *d.Spec.Replicas)
	}
}

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.rules.example.com
spec:
  group: rules.example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

func widget(name, phase string) string {
	return "apiVersion: rules.example.com/v1\nkind: Widget\nmetadata:\n  name: " + name + "\nstatus:\n  phase: " + phase + "\n"
}

const widgetRules = `healthChecks:
  - apiVersion: rules.example.com/v1
    kind: Widget
    current: "self.status.phase == 'Ready'"
    failed: "self.status.phase == 'Failed'"
`

func TestWaitUsesHealthRules(t *testing.T) {
	e := newEnv(t)
	rules, err := health.Parse(".gitops.yaml", []byte(widgetRules))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"crd.yaml": widgetCRD, "good.yaml": widget("good", "Ready"), "bad.yaml": widget("bad", "Failed")}
	start := time.Now()
	res := e.sync(files, apply.Options{Prune: true, Wait: true, Timeout: 3 * time.Second, HealthRules: rules})
	if !res.Failed() || len(res.NotReady) != 1 {
		t.Fatalf("not ready %q, want the failed widget", res.NotReady)
	}
	want := "Widget/" + e.ns + "/bad: Failed: health rule of Widget (.gitops.yaml:2): failed \"self.status.phase == 'Failed'\" holds"
	if res.NotReady[0] != want {
		t.Fatalf("not ready %q, want %q", res.NotReady[0], want)
	}
	t.Logf("waited %s", time.Since(start))

	// Without rules, kstatus finds both widgets ready (no conditions).
	res = e.sync(files, apply.Options{Prune: true, Wait: true, Timeout: 3 * time.Second})
	if res.Failed() {
		t.Fatalf("kstatus: not ready %q", res.NotReady)
	}

	// status reads them with the rules too.
	members, err := e.client.MembersWithRules(e.ctx, e.load(), 4, mustCompile(t, rules))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range members {
		got[m.Object.Name] = m.Health.Status
	}
	if got["good"] != "Current" || got["bad"] != "Failed" {
		t.Fatalf("members' health %v", got)
	}
}

func mustCompile(t *testing.T, rules []health.Rule) *health.Checker {
	t.Helper()
	c, err := health.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRuleThatDoesNotCompileWritesNothing(t *testing.T) {
	e := newEnv(t)
	rules, err := health.Parse(".gitops.yaml", []byte(strings.Replace(widgetRules, "== 'Failed'\"", "== \"", 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.trySync(map[string]string{"a.yaml": configMap("a", nil)}, apply.Options{Prune: true, Wait: true, HealthRules: rules})
	if err == nil || !strings.Contains(err.Error(), ".gitops.yaml:2: health rule for rules.example.com/v1 Widget: failed") {
		t.Fatalf("err = %v, want the rule's file:line", err)
	}
	if _, err := e.getConfigMap("a"); !apierrors.IsNotFound(err) {
		t.Fatalf("a sync with a bad rule wrote: %v", err)
	}
}
