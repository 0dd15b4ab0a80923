package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// Stages, in the order they are applied. Pruning goes the other way.
const (
	StageNamespaces = iota // Namespaces and CustomResourceDefinitions
	StageCluster           // other cluster-scoped kinds, RBAC, service accounts, quotas
	StageConfig            // configuration, services, storage claims, and the rest
	StageWorkloads         // workloads and what scales or guards them
	StageCustom            // custom resources
	numStages
)

var stageNames = [numStages]string{"namespaces and CRDs", "cluster and RBAC", "configuration", "workloads", "custom resources"}

var crdGK = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// Item is one object to apply.
type Item struct {
	ID     applyset.ObjectID
	Origin render.Origin
	Object *unstructured.Unstructured
	// Mapping is nil for a custom resource whose CRD is in the same plan and
	// not yet in the cluster; it is found once the CRD is established.
	Mapping *meta.RESTMapping
	Stage   int
	// Body is the JSON sent to the API server, Hash a short digest of it.
	Body []byte
	Hash string
	// Policy is the object's apply policy from its ssa annotation:
	// annotations.SSAIfNotPresent, annotations.SSAIgnore, or "" (applied
	// on every sync).
	Policy string
}

// Plan is what a run applies: the objects in stages, and the kinds and
// namespaces they span.
type Plan struct {
	Items      []*Item
	Ignored    []*Item
	GroupKinds map[schema.GroupKind]bool
	Namespaces map[string]bool
	// CRDs maps the group-kinds defined by CRDs in the plan to their scope.
	CRDs map[schema.GroupKind]meta.RESTScopeName
}

// Stage returns the items of one stage.
func (p *Plan) Stage(stage int) []*Item {
	var items []*Item
	for _, it := range p.Items {
		if it.Stage == stage {
			items = append(items, it)
		}
	}
	return items
}

// PlanOptions shape a plan.
type PlanOptions struct {
	// DefaultNamespace is given to namespaced objects that have none.
	DefaultNamespace string
	// SetID is the sync set's id, put in every object's part-of label.
	SetID string
}

// NewPlan checks the rendered objects and orders them. It fails, naming every
// bad object with its origin, when a kind is known neither to the cluster nor
// to a CRD in the plan, or when two documents describe the same object.
func NewPlan(objects []render.Object, mapper meta.RESTMapper, opts PlanOptions) (*Plan, error) {
	p := &Plan{
		GroupKinds: map[schema.GroupKind]bool{},
		Namespaces: map[string]bool{},
		CRDs:       crdsIn(objects),
	}
	var errs []error
	seen := map[applyset.ObjectID]render.Origin{}
	for _, o := range objects {
		it, err := newItem(o, mapper, p.CRDs, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s %q: %w", o.Origin, o.Object.GetKind(), o.Object.GetName(), err))
			continue
		}
		if first, dup := seen[it.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: %s is also defined in %s: remove one of them", o.Origin, it.ID, first))
			continue
		}
		seen[it.ID] = o.Origin
		if it.Policy == annotations.SSAIgnore || annotations.Ignored(it.Object.GetAnnotations()) {
			p.Ignored = append(p.Ignored, it)
			continue
		}
		p.Items = append(p.Items, it)
		p.GroupKinds[it.ID.GroupKind()] = true
		if it.ID.Namespace != "" {
			p.Namespaces[it.ID.Namespace] = true
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.SliceStable(p.Items, func(i, j int) bool { return p.Items[i].Stage < p.Items[j].Stage })
	return p, nil
}

func newItem(o render.Object, mapper meta.RESTMapper, crds map[schema.GroupKind]meta.RESTScopeName, opts PlanOptions) (*Item, error) {
	obj := o.Object.DeepCopy()
	gvk := obj.GroupVersionKind()
	gk := gvk.GroupKind()
	policy, err := ssaPolicy(obj.GetAnnotations())
	if err != nil {
		return nil, err
	}
	it := &Item{Origin: o.Origin, Object: obj, Policy: policy}

	var scope meta.RESTScopeName
	mapping, err := mapper.RESTMapping(gk, gvk.Version)
	switch {
	case err == nil:
		it.Mapping = mapping
		scope = mapping.Scope.Name()
	case meta.IsNoMatchError(err):
		s, inPlan := crds[gk]
		if !inPlan {
			return nil, fmt.Errorf("unknown kind %s (apiVersion %s): neither the cluster nor a CustomResourceDefinition in the repository defines it; check the apiVersion and kind, or add the CRD", gk.Kind, gvk.GroupVersion())
		}
		scope = s
	default:
		return nil, fmt.Errorf("looking up kind %s: %w", gvk, err)
	}

	if scope == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(opts.DefaultNamespace)
		}
	} else {
		obj.SetNamespace("")
	}
	it.ID = applyset.ObjectID{Group: gk.Group, Kind: gk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	_, customInPlan := crds[gk]
	it.Stage = stageOf(gk, scope, customInPlan)

	if opts.SetID != "" {
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[applyset.LabelPartOf] = opts.SetID
		obj.SetLabels(labels)
	}
	it.Body, it.Hash, err = encode(obj)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// encode returns the JSON of an object to apply and a short digest of it.
func encode(obj *unstructured.Unstructured) ([]byte, string, error) {
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, "", fmt.Errorf("encoding: %w", err)
	}
	sum := sha256.Sum256(body)
	return body, hex.EncodeToString(sum[:8]), nil
}

// crdsIn finds the CRDs among the objects and the kinds they define.
func crdsIn(objects []render.Object) map[schema.GroupKind]meta.RESTScopeName {
	crds := map[schema.GroupKind]meta.RESTScopeName{}
	for _, o := range objects {
		if o.Object.GroupVersionKind().GroupKind() != crdGK {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object.Object, "spec", "scope")
		if kind == "" {
			continue
		}
		name := meta.RESTScopeNameRoot
		if scope == "Namespaced" {
			name = meta.RESTScopeNameNamespace
		}
		crds[schema.GroupKind{Group: group, Kind: kind}] = name
	}
	return crds
}

var workloadKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:                     true,
	{Group: "apps", Kind: "StatefulSet"}:                    true,
	{Group: "apps", Kind: "DaemonSet"}:                      true,
	{Group: "apps", Kind: "ReplicaSet"}:                     true,
	{Group: "", Kind: "ReplicationController"}:              true,
	{Group: "", Kind: "Pod"}:                                true,
	{Group: "batch", Kind: "Job"}:                           true,
	{Group: "batch", Kind: "CronJob"}:                       true,
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}: true,
	{Group: "policy", Kind: "PodDisruptionBudget"}:          true,
}

var clusterStageKinds = map[schema.GroupKind]bool{
	{Group: "", Kind: "ServiceAccount"}:                       true,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}: true,
	{Group: "", Kind: "ResourceQuota"}:                        true,
	{Group: "", Kind: "LimitRange"}:                           true,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:       true,
}

// stageOf places a kind in a stage.
func stageOf(gk schema.GroupKind, scope meta.RESTScopeName, customInPlan bool) int {
	switch {
	case gk == crdGK || gk == schema.GroupKind{Kind: "Namespace"}:
		return StageNamespaces
	case customInPlan || isCustomGroup(gk.Group):
		return StageCustom
	case scope == meta.RESTScopeNameRoot || clusterStageKinds[gk]:
		return StageCluster
	case workloadKinds[gk]:
		return StageWorkloads
	default:
		return StageConfig
	}
}

// isCustomGroup tells groups of custom resources from Kubernetes' own: the
// built-in groups are single words or end in .k8s.io.
func isCustomGroup(group string) bool {
	return strings.Contains(group, ".") && !strings.HasSuffix(group, ".k8s.io")
}

// StageName names a stage for messages.
func StageName(stage int) string { return stageNames[stage] }

// ssaPolicy reads an object's apply policy from annotations.SSA, or else
// Flux v2's annotations.FluxSSA: "" for Override, Merge or none (server-side
// apply keeps the fields of other managers either way), SSAIfNotPresent or
// SSAIgnore. Values are compared case-insensitively; any other is an error.
func ssaPolicy(a map[string]string) (string, error) {
	key := annotations.SSA
	v, ok := a[key]
	if !ok {
		key = annotations.FluxSSA
		v, ok = a[key]
	}
	if !ok {
		return "", nil
	}
	for _, known := range []string{annotations.SSAOverride, annotations.SSAMerge, annotations.SSAIfNotPresent, annotations.SSAIgnore} {
		if strings.EqualFold(v, known) {
			if known == annotations.SSAOverride || known == annotations.SSAMerge {
				return "", nil
			}
			return known, nil
		}
	}
	return "", fmt.Errorf("annotation %s: unknown value %q: use %s, %s, %s or %s", key, v,
		annotations.SSAOverride, annotations.SSAMerge, annotations.SSAIfNotPresent, annotations.SSAIgnore)
}
