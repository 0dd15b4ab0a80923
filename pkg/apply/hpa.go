package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// ReplicasManager is the field manager that holds spec.replicas of a
// workload for a moment while the set's manager hands the field over to
// its HorizontalPodAutoscaler (see leaveReplicasToAutoscalers).
const ReplicasManager = FieldManager + "-handover-to-hpa"

var hpaGK = schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}

// leaveReplicasToAutoscalers keeps a sync from fighting autoscalers over
// spec.replicas.
//
// watch applies with --force-conflicts: a workload whose spec.replicas is
// in git would take the field back from its HorizontalPodAutoscaler on every
// run, and the autoscaler would scale it again, for ever. So, before
// anything is written, the HorizontalPodAutoscalers (autoscaling/v2) in the
// namespaces of the plan's objects are listed, and those of the plan added.
// When one targets (spec.scaleTargetRef) an object of the plan that exists
// in the cluster and whose manifest declares spec.replicas, spec.replicas
// is dropped from what is applied: server-side apply then leaves the field
// to the autoscaler's field manager, the object is not rewritten every run,
// and the result carries a warning naming the autoscaler. An object not in
// the cluster yet is created with the replicas of git. When the set's field
// manager still owns spec.replicas (the object was synced before the
// autoscaler came), applyOptions first hands the field over at its live
// value (handOverReplicas), as Kubernetes documents for autoscalers, so that
// dropping it does not reset the workload to its default size. Once the
// autoscaler is gone, the replicas of git are applied again.
//
// A namespace whose autoscalers cannot be listed (RBAC) is named in a
// warning, and its workloads keep their replicas applied.
func (r *run) leaveReplicasToAutoscalers(ctx context.Context) {
	declared := map[applyset.ObjectID]int{}
	namespaces := map[string]bool{}
	for i, it := range r.plan.Items {
		if it.ID.Namespace == "" || it.Policy != "" {
			continue
		}
		if _, found, _ := unstructured.NestedFieldNoCopy(it.Object.Object, "spec", "replicas"); found {
			declared[it.ID] = i
			namespaces[it.ID.Namespace] = true
		}
	}
	if len(declared) == 0 {
		return
	}
	type target struct{ hpa, why string }
	targets := map[applyset.ObjectID]target{}
	add := func(ns, hpa, why, apiVersion, kind, name string) {
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			return
		}
		id := applyset.ObjectID{Group: gv.Group, Kind: kind, Namespace: ns, Name: name}
		if _, ok := declared[id]; ok {
			if _, seen := targets[id]; !seen {
				targets[id] = target{hpa: hpa, why: why}
			}
		}
	}
	for _, it := range r.plan.Items {
		if it.ID.GroupKind() != hpaGK {
			continue
		}
		ref, _, _ := unstructured.NestedStringMap(it.Object.Object, "spec", "scaleTargetRef")
		add(it.ID.Namespace, it.ID.Name, "in the repository", ref["apiVersion"], ref["kind"], ref["name"])
	}
	for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
		list, err := r.c.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			r.warn(fmt.Sprintf("could not list the HorizontalPodAutoscalers of namespace %s (%v): the replicas of its workloads are applied from git", ns, err))
			continue
		}
		for _, h := range list.Items {
			ref := h.Spec.ScaleTargetRef
			add(ns, h.Name, "in the cluster", ref.APIVersion, ref.Kind, ref.Name)
		}
	}
	if len(targets) == 0 {
		return
	}
	r.plan.Items = slices.Clone(r.plan.Items)
	r.replicasLeft = map[applyset.ObjectID]*unstructured.Unstructured{}
	ids := slices.Collect(maps.Keys(targets))
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	for _, id := range ids {
		t := targets[id]
		it := r.plan.Items[declared[id]]
		if r.live[id] == nil && r.adopted[id] == nil {
			r.warnObject(id, fmt.Sprintf("created with spec.replicas from git; later syncs leave it to HorizontalPodAutoscaler %s", t.hpa))
			continue
		}
		stripped := *it
		stripped.Object = it.Object.DeepCopy()
		unstructured.RemoveNestedField(stripped.Object.Object, "spec", "replicas")
		body, hash, err := encode(stripped.Object)
		if err != nil {
			continue
		}
		stripped.Body, stripped.Hash = body, hash
		r.plan.Items[declared[id]] = &stripped
		r.replicasLeft[id] = it.Object
		r.warnObject(id, fmt.Sprintf("spec.replicas is left to HorizontalPodAutoscaler %s (%s); the value in git is not applied", t.hpa, t.why))
	}
}

// ownsReplicas says whether manager applied spec.replicas.
func ownsReplicas(managed []metav1.ManagedFieldsEntry, manager string) bool {
	for _, mf := range managed {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]any
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) != nil {
			continue
		}
		if _, ok := fields["f:spec"]["f:replicas"]; ok {
			return true
		}
	}
	return false
}

// handOverReplicas applies spec.replicas of an object at its live value as
// ReplicasManager, so that the field stays when the set's manager stops
// applying it; the autoscaler's next scale takes it from ReplicasManager.
// A conflict means another manager (the autoscaler) holds the field at
// another value already: then there is nothing to hand over. It returns
// the object's resourceVersion.
func (c *Client) handOverReplicas(ctx context.Context, it *Item) (string, error) {
	live, err := c.resource(it.Mapping, it.ID.Namespace).Get(ctx, it.ID.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading it: %w", err)
	}
	replicas, found, err := unstructured.NestedFieldNoCopy(live.Object, "spec", "replicas")
	if err != nil || !found {
		return live.GetResourceVersion(), nil
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": live.GetAPIVersion(),
		"kind":       live.GetKind(),
		"metadata":   map[string]any{"name": it.ID.Name, "namespace": it.ID.Namespace},
		"spec":       map[string]any{"replicas": replicas},
	})
	if err != nil {
		return "", err
	}
	handover := *it
	handover.Body = body
	after, _, err := c.serverSideApply(ctx, &handover, applyOptions{manager: ReplicasManager})
	if apierrors.IsConflict(err) {
		return live.GetResourceVersion(), nil
	}
	if err != nil {
		return "", err
	}
	return after.GetResourceVersion(), nil
}
