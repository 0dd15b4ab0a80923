package apply

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

func TestDescribeOwnersNamesWhoManagesAnObject(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name string
		meta metav1.ObjectMeta
		want []string
	}{
		{"kubectl", metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl-create"}, {Manager: "kubectl-client-side-apply"}, {Manager: "kubectl-create"}}},
			[]string{"field managers kubectl-create, kubectl-client-side-apply"}},
		{"nothing recorded", metav1.ObjectMeta{}, []string{"no field manager recorded"}},
		{"helm", metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"},
			Annotations: map[string]string{"meta.helm.sh/release-name": "web", "meta.helm.sh/release-namespace": "prod"}},
			[]string{`Helm release "web" in namespace prod`}},
		{"flux kustomization", metav1.ObjectMeta{Labels: map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}},
			[]string{`Flux Kustomization "flux-system/apps"`}},
		{"flux helmrelease", metav1.ObjectMeta{Labels: map[string]string{"helm.toolkit.fluxcd.io/name": "redis", "helm.toolkit.fluxcd.io/namespace": "db"}},
			[]string{`Flux HelmRelease "db/redis"`}},
		{"flux v1", metav1.ObjectMeta{Labels: map[string]string{"fluxcd.io/sync-gc-mark": "sha256.abc"}}, []string{"Flux v1 (fluxcd.io/sync-gc-mark)"}},
		{"argo cd", metav1.ObjectMeta{Annotations: map[string]string{"argocd.argoproj.io/tracking-id": "guestbook:/ConfigMap:default/x"}}, []string{"Argo CD"}},
		{"other tool", metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/managed-by": "kapp"}}, []string{"app.kubernetes.io/managed-by=kapp"}},
		{"controller", metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1", Controller: &yes}}}, []string{"controlled by ReplicaSet/web-1"}},
	} {
		got := describeOwners(&tc.meta)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q does not say %q", tc.name, got, w)
			}
		}
	}
}

func TestSetFieldManagerNamesTheSet(t *testing.T) {
	set := &applyset.Set{Name: "web", Namespace: "demo", ID: applyset.ID("web", "demo", applyset.ParentKind, "")}
	if got := SetFieldManager(set); got != "kubectl-gitops/demo/web" {
		t.Fatalf("SetFieldManager = %q", got)
	}
	if s, ok := setOfManager("kubectl-gitops/demo/web"); !ok || s != `sync set "web" in namespace demo` {
		t.Fatalf("setOfManager = %q %v", s, ok)
	}
	long := &applyset.Set{Name: strings.Repeat("n", 200), Namespace: "demo"}
	long.ID = applyset.ID(long.Name, "demo", applyset.ParentKind, "")
	got := SetFieldManager(long)
	if got != "kubectl-gitops/"+long.ID || len(got) > maxFieldManager {
		t.Fatalf("SetFieldManager of a long name = %q", got)
	}
	if s, ok := setOfManager(got); !ok || !strings.Contains(s, long.ID) {
		t.Fatalf("setOfManager(%q) = %q %v", got, s, ok)
	}
	for _, m := range []string{"kubectl-gitops", "kubectl-create", "kubectl-gitops-other/x"} {
		if _, ok := setOfManager(m); ok {
			t.Errorf("setOfManager(%q) names a set", m)
		}
	}
}

func fields(s string) *metav1.FieldsV1 { return metav1.NewFieldsV1(s) }

func TestTransferManagedFieldsMovesTheSharedManagersFields(t *testing.T) {
	const mine = "kubectl-gitops/demo/web"
	other := metav1.ManagedFieldsEntry{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: fields(`{"f:data":{"f:x":{}}}`)}
	legacy := metav1.ManagedFieldsEntry{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1", FieldsV1: fields(`{"f:data":{"f:k":{}},"f:metadata":{"f:labels":{"f:applyset.kubernetes.io/part-of":{}}}}`)}
	// Renamed in place when the set's manager has no entry yet.
	got, ok := transferManagedFields([]metav1.ManagedFieldsEntry{other, legacy}, mine)
	if !ok || len(got) != 2 || got[1].Manager != mine || got[1].Operation != metav1.ManagedFieldsOperationApply || got[1].FieldsV1.GetRawString() != legacy.FieldsV1.GetRawString() || got[0].Manager != "kubectl-edit" {
		t.Fatalf("rename: %+v %v", got, ok)
	}
	// Merged into the set's entry when both exist.
	own := metav1.ManagedFieldsEntry{Manager: mine, Operation: metav1.ManagedFieldsOperationApply, FieldsV1: fields(`{"f:data":{"f:new":{}}}`)}
	got, ok = transferManagedFields([]metav1.ManagedFieldsEntry{legacy, other, own}, mine)
	if !ok || len(got) != 2 || got[1].Manager != mine {
		t.Fatalf("merge: %+v %v", got, ok)
	}
	var merged map[string]any
	if err := json.Unmarshal(got[1].FieldsV1.GetRawBytes(), &merged); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"f:data":     map[string]any{"f:k": map[string]any{}, "f:new": map[string]any{}},
		"f:metadata": map[string]any{"f:labels": map[string]any{"f:applyset.kubernetes.io/part-of": map[string]any{}}},
	}
	if !reflect.DeepEqual(merged, want) {
		t.Fatalf("merged fields %v, want %v", merged, want)
	}
	// An Update by kubectl-gitops (a label released) is not an apply to move.
	if _, ok := transferManagedFields([]metav1.ManagedFieldsEntry{{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationUpdate}, own}, mine); ok {
		t.Fatal("moved an Update entry")
	}
}

func TestRaceOwnerReadsTheConflictOnTheLabel(t *testing.T) {
	conflict := func(field, manager string) error {
		err := apierrors.NewApplyConflict([]metav1.StatusCause{{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "` + manager + `"`, Field: field}}, "Apply failed with 1 conflict")
		return err
	}
	owner, ok := raceOwner(conflict(".metadata.labels.applyset.kubernetes.io/part-of", "kubectl-gitops/demo/web"))
	if !ok || owner != `sync set "web" in namespace demo` {
		t.Fatalf("raceOwner = %q %v", owner, ok)
	}
	if _, ok := raceOwner(conflict(".data.k", "kubectl-gitops/demo/web")); ok {
		t.Fatal("a conflict on data was taken for a race on the label")
	}
	if modifiedConflict(conflict(".data.k", "x")) {
		t.Fatal("a field conflict was taken for a changed resourceVersion")
	}
	if !modifiedConflict(apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "a", nil)) {
		t.Fatal("a resourceVersion conflict was not recognised")
	}
}
