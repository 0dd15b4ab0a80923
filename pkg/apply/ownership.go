package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// Which objects a run may write.
//
// A sync set owns the objects that carry its part-of label. Before anything
// is written, a run refuses: a manifest of an ApplySet parent (any set's, or
// this set's own ConfigMap); an object of another set; an object that exists
// outside any set (made by hand, by Helm, by Flux), unless the operator
// adopts it; and a plan that would prune the set down to nothing, unless the
// operator allows it.
//
// That check reads the cluster before the writes, so two sets syncing at
// once could both find an object free. Ownership therefore also holds at
// write time: each set applies with its own field manager, which owns the
// part-of label, so that another set's apply changing the label is a
// conflict the API server refuses; an object that did not exist at the check
// is applied without --force-conflicts (there is nothing to take over unless
// someone raced us); and an object adopted at the check is applied with the
// resourceVersion the check saw, so that a concurrent change fails.

// Errors wrapped by the refusals of a run, before anything is written.
var (
	// ErrForeign: the object belongs to another ApplySet.
	ErrForeign = errors.New("object belongs to another ApplySet")
	// ErrOutside: the object exists in the cluster and belongs to no set;
	// Options.Adopt takes it over.
	ErrOutside = errors.New("object exists outside the sync set")
	// ErrParent: the object is the parent of an ApplySet.
	ErrParent = errors.New("object is the parent of an ApplySet")
	// ErrEmpty: the plan has no objects and pruning would delete every
	// member of the set; Options.AllowEmpty allows it.
	ErrEmpty = errors.New("the revision renders no objects")
)

// maxFieldManager is the longest field manager the API server accepts.
const maxFieldManager = 128

// SetFieldManager is the field manager of a set's applies:
// kubectl-gitops/<namespace>/<name>, or kubectl-gitops/<id> when that is too
// long. Earlier versions applied every set as FieldManager alone; a member
// still managed that way is moved to its set's manager when it is next
// applied.
func SetFieldManager(set *applyset.Set) string {
	m := FieldManager + "/" + set.Namespace + "/" + set.Name
	if len(m) > maxFieldManager {
		m = FieldManager + "/" + set.ID
	}
	return m
}

// setOfManager names the sync set behind a field manager of kubectl-gitops.
func setOfManager(manager string) (string, bool) {
	rest, ok := strings.CutPrefix(manager, FieldManager+"/")
	if !ok || rest == "" {
		return "", false
	}
	if ns, name, ok := strings.Cut(rest, "/"); ok {
		return fmt.Sprintf("sync set %q in namespace %s", name, ns), true
	}
	return fmt.Sprintf("the sync set with ApplySet id %s", rest), true
}

// ownerSet names the sync set that applied an object, from its field
// managers, or the set's id from its part-of label.
func ownerSet(managed []metav1.ManagedFieldsEntry, partOf string) string {
	for _, mf := range managed {
		if s, ok := setOfManager(mf.Manager); ok && mf.Operation == metav1.ManagedFieldsOperationApply {
			return s
		}
	}
	return fmt.Sprintf("the ApplySet with id %s", partOf)
}

// describeOwners says who manages an object, from its metadata: the
// release or sync of Helm, Flux, Flux v1 or Argo CD that its labels and
// annotations name, its controller, and its field managers.
func describeOwners(m *metav1.ObjectMeta) string {
	l, a := m.Labels, m.Annotations
	var parts []string
	if rel := a["meta.helm.sh/release-name"]; rel != "" || l["app.kubernetes.io/managed-by"] == "Helm" {
		s := "Helm"
		if rel != "" {
			s += fmt.Sprintf(" release %q", rel)
			if ns := a["meta.helm.sh/release-namespace"]; ns != "" {
				s += " in namespace " + ns
			}
		}
		parts = append(parts, s)
	} else if by := l["app.kubernetes.io/managed-by"]; by != "" {
		parts = append(parts, "app.kubernetes.io/managed-by="+by)
	}
	for _, flux := range []struct{ prefix, kind string }{
		{"kustomize.toolkit.fluxcd.io/", "Flux Kustomization"},
		{"helm.toolkit.fluxcd.io/", "Flux HelmRelease"},
	} {
		if name := l[flux.prefix+"name"]; name != "" {
			if ns := l[flux.prefix+"namespace"]; ns != "" {
				name = ns + "/" + name
			}
			parts = append(parts, fmt.Sprintf("%s %q", flux.kind, name))
		}
	}
	for _, key := range []string{
		annotations.FluxPrefix + "sync-gc-mark", annotations.FluxLegacyPrefix + "sync-gc-mark",
		annotations.FluxPrefix + "sync-checksum", annotations.FluxLegacyPrefix + "sync-checksum",
	} {
		_, inLabels := l[key]
		_, inAnnotations := a[key]
		if inLabels || inAnnotations {
			parts = append(parts, "Flux v1 ("+key+")")
			break
		}
	}
	if id := a["argocd.argoproj.io/tracking-id"]; id != "" {
		parts = append(parts, fmt.Sprintf("Argo CD (tracking id %s)", id))
	}
	for _, ref := range m.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			parts = append(parts, fmt.Sprintf("controlled by %s/%s", ref.Kind, ref.Name))
		}
	}
	var managers []string
	seen := map[string]bool{}
	for _, mf := range m.ManagedFields {
		if mf.Manager != "" && !seen[mf.Manager] {
			seen[mf.Manager] = true
			managers = append(managers, mf.Manager)
		}
	}
	if len(managers) > 0 {
		parts = append(parts, "field managers "+strings.Join(managers, ", "))
	} else {
		parts = append(parts, "no field manager recorded")
	}
	return strings.Join(parts, "; ")
}

// isParentManifest says whether a planned object is an ApplySet parent: it
// carries the parent's label or annotations, or it is this set's parent.
func isParentManifest(it *Item, set *applyset.Set) bool {
	own := it.ID == applyset.ObjectID{Kind: applyset.ParentKind, Namespace: set.Namespace, Name: set.Name}
	return own || applyset.IsParent(it.Object.GetLabels(), it.Object.GetAnnotations())
}

// listThreshold is the number of objects of one kind in one namespace above
// which lookup lists them instead of reading each.
const listThreshold = 8

// lookup reads the metadata of the given objects, those the inventory did
// not find with a part-of label, and returns those that exist.
func (c *Client) lookup(ctx context.Context, items []*Item, concurrency int) (map[applyset.ObjectID]*metav1.PartialObjectMetadata, error) {
	type bucket struct {
		mapping   *meta.RESTMapping
		namespace string
		names     map[string]applyset.ObjectID
	}
	buckets := map[string]*bucket{}
	for _, it := range items {
		key := it.Mapping.Resource.String() + "|" + it.ID.Namespace
		b := buckets[key]
		if b == nil {
			b = &bucket{mapping: it.Mapping, namespace: it.ID.Namespace, names: map[string]applyset.ObjectID{}}
			buckets[key] = b
		}
		b.names[it.ID.Name] = it.ID
	}
	var mu sync.Mutex
	found := map[applyset.ObjectID]*metav1.PartialObjectMetadata{}
	keep := func(id applyset.ObjectID, m *metav1.PartialObjectMetadata) {
		mu.Lock()
		defer mu.Unlock()
		found[id] = m
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for _, b := range buckets {
		client := c.Metadata.Resource(b.mapping.Resource).Namespace(b.namespace)
		if len(b.names) > listThreshold {
			g.Go(func() error {
				opts := metav1.ListOptions{Limit: 500}
				for {
					list, err := client.List(ctx, opts)
					if apierrors.IsNotFound(err) {
						return nil
					}
					if err != nil {
						return fmt.Errorf("listing %s: %w", where(b.mapping, b.namespace), err)
					}
					for i := range list.Items {
						if id, ok := b.names[list.Items[i].Name]; ok {
							keep(id, &list.Items[i])
						}
					}
					if list.Continue == "" {
						return nil
					}
					opts.Continue = list.Continue
				}
			})
			continue
		}
		for name, id := range b.names {
			g.Go(func() error {
				m, err := client.Get(ctx, name, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("reading %s: %w", id, err)
				}
				keep(id, m)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return found, nil
}

func where(m *meta.RESTMapping, namespace string) string {
	s := m.GroupVersionKind.Kind
	if namespace != "" {
		s += " in namespace " + namespace
	}
	return s
}

// maxRefusals is how many refused objects an error lists.
const maxRefusals = 30

// checkOwnership refuses, before any write, the plans that would touch
// what the set does not own, or prune it down to nothing. It finds which of
// the objects that are not members yet exist, and remembers those that this
// run takes over.
func (r *run) checkOwnership(ctx context.Context) error {
	var errs []error
	var candidates []*Item
	for _, it := range r.plan.Items {
		if isParentManifest(it, r.set) {
			errs = append(errs, fmt.Errorf("%s: %s: %w: a sync never applies an ApplySet's parent (its applyset.kubernetes.io/ label or annotations, or the name of sync set %q's own parent): remove it from the repository",
				it.Origin, it.ID, ErrParent, r.set.Name))
			continue
		}
		l, ok := r.live[it.ID]
		switch {
		case ok && l.PartOf == r.set.ID:
		case ok:
			errs = append(errs, fmt.Errorf("%s: %s: %w (label %s=%s, %s), not to sync set %q: it is left alone; remove it from one of the two sets",
				it.Origin, it.ID, ErrForeign, applyset.LabelPartOf, l.PartOf, ownerSet(l.ManagedFields, l.PartOf), r.set.Name))
		case it.Mapping != nil:
			candidates = append(candidates, it)
		}
	}
	existing, err := r.c.lookup(ctx, candidates, r.opts.Concurrency)
	if err != nil {
		return fmt.Errorf("checking which objects of sync set %q exist already: %w", r.set.Name, err)
	}
	r.adopted = map[applyset.ObjectID]*metav1.PartialObjectMetadata{}
	r.present = map[applyset.ObjectID]bool{}
	for _, it := range candidates {
		m, ok := existing[it.ID]
		if !ok {
			continue
		}
		partOf := m.Labels[applyset.LabelPartOf]
		switch {
		case applyset.IsParent(m.Labels, m.Annotations):
			errs = append(errs, fmt.Errorf("%s: %s: %w in the cluster (%s): a sync never takes over an ApplySet's parent, not even with --adopt: remove it from the repository",
				it.Origin, it.ID, ErrParent, describeOwners(&m.ObjectMeta)))
		case partOf != "" && partOf != r.set.ID:
			// Labelled since the inventory was listed: another set is
			// syncing it right now.
			errs = append(errs, fmt.Errorf("%s: %s: %w (label %s=%s, %s), not to sync set %q: it is left alone; remove it from one of the two sets",
				it.Origin, it.ID, ErrForeign, applyset.LabelPartOf, partOf, ownerSet(m.ManagedFields, partOf), r.set.Name))
		case it.Policy == annotations.SSAIfNotPresent:
			// Never written, so never taken over.
			r.present[it.ID] = true
		case partOf == r.set.ID || r.opts.Adopt || r.appliedBySet(m.ManagedFields):
			r.adopted[it.ID] = m
		default:
			errs = append(errs, fmt.Errorf("%s: %s: %w %q: it exists in the cluster and belongs to no sync set (%s): it is left alone and nothing was written; to take it over on purpose (it then carries the set's label, and is pruned when it leaves the repository), sync once with --adopt",
				it.Origin, it.ID, ErrOutside, r.set.Name, describeOwners(&m.ObjectMeta)))
		}
	}
	if err := r.checkEmpty(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > maxRefusals {
		more := len(errs) - maxRefusals
		errs = append(errs[:maxRefusals:maxRefusals], fmt.Errorf("... and %d more", more))
	}
	return errors.Join(errs...)
}

// appliedBySet says whether this set's own field manager applied an object:
// a member whose part-of label was removed by hand is still the set's.
func (r *run) appliedBySet(managed []metav1.ManagedFieldsEntry) bool {
	for _, mf := range managed {
		if mf.Manager == r.manager && mf.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// maxNamed is how many members the refusal of an empty plan names.
const maxNamed = 10

// checkEmpty refuses a plan without objects that would prune every member
// of the set, unless AllowEmpty: a path that renders nothing (a wrong
// --path, files renamed, an empty kustomization) is far more often a mistake
// than the wish to delete everything.
func (r *run) checkEmpty() error {
	if !r.opts.Prune || r.opts.AllowEmpty || len(r.plan.Items) > 0 {
		return nil
	}
	ignored := map[applyset.ObjectID]bool{}
	for _, it := range r.plan.Ignored {
		ignored[it.ID] = true
	}
	var doomed []string
	for id, l := range r.live {
		if l.PartOf == r.set.ID && !ignored[id] {
			doomed = append(doomed, id.String())
		}
	}
	if len(doomed) == 0 {
		return nil
	}
	sort.Strings(doomed)
	named := strings.Join(doomed[:min(len(doomed), maxNamed)], ", ")
	if len(doomed) > maxNamed {
		named += fmt.Sprintf(", and %d more", len(doomed)-maxNamed)
	}
	what := "the revision"
	if r.opts.Revision != "" {
		what = "revision " + short(r.opts.Revision)
	}
	return fmt.Errorf("%w: %s has no objects, and syncing it would prune all %d objects of sync set %q (%s): refused, nothing was changed; check the commit and --path, or, to empty the set on purpose, sync with --allow-empty",
		ErrEmpty, what, len(doomed), r.set.Name, named)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// hasLegacy says whether FieldManager alone, the shared manager of earlier
// versions, applied the object.
func hasLegacy(managed []metav1.ManagedFieldsEntry) bool {
	return legacyIndex(managed) >= 0
}

func legacyIndex(managed []metav1.ManagedFieldsEntry) int {
	for i, mf := range managed {
		if mf.Manager == FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" {
			return i
		}
	}
	return -1
}

// takeOverLegacy moves what the shared field manager of earlier versions
// owns on an object to manager, the set's own, so that the set's applies can
// change and remove those fields. Only metadata.managedFields changes, by a
// JSON patch guarded by the resourceVersion; it is read again and retried
// when the object changed meanwhile. It returns the object's new metadata.
func (c *Client) takeOverLegacy(ctx context.Context, it *Item, m *metav1.ObjectMeta, manager string) (*metav1.ObjectMeta, error) {
	client := c.resource(it.Mapping, it.ID.Namespace)
	for attempt := 0; ; attempt++ {
		managed, ok := transferManagedFields(m.ManagedFields, manager)
		if !ok {
			return m, nil
		}
		patch, err := json.Marshal([]map[string]any{
			{"op": "test", "path": "/metadata/resourceVersion", "value": m.ResourceVersion},
			{"op": "replace", "path": "/metadata/managedFields", "value": managed},
		})
		if err != nil {
			return nil, err
		}
		obj, err := client.Patch(ctx, it.ID.Name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: manager})
		if err == nil {
			return &metav1.ObjectMeta{ResourceVersion: obj.GetResourceVersion(), ManagedFields: obj.GetManagedFields()}, nil
		}
		if attempt == 2 || !(apierrors.IsInvalid(err) || apierrors.IsConflict(err)) {
			return nil, fmt.Errorf("moving its fields from field manager %s to %s: %w", FieldManager, manager, err)
		}
		fresh, err := c.Metadata.Resource(it.Mapping.Resource).Namespace(it.ID.Namespace).Get(ctx, it.ID.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("moving its fields from field manager %s to %s: reading it again: %w", FieldManager, manager, err)
		}
		m = &fresh.ObjectMeta
	}
}

// transferManagedFields returns managed with the Apply entry of the shared
// manager of earlier versions given to manager, merged into manager's own
// entry when it has one; false when there is nothing to move.
func transferManagedFields(managed []metav1.ManagedFieldsEntry, manager string) ([]metav1.ManagedFieldsEntry, bool) {
	i := legacyIndex(managed)
	if i < 0 {
		return nil, false
	}
	out := make([]metav1.ManagedFieldsEntry, 0, len(managed))
	for j := range managed {
		if j != i {
			out = append(out, *managed[j].DeepCopy())
		}
	}
	legacy := *managed[i].DeepCopy()
	for j := range out {
		mf := &out[j]
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" {
			mf.FieldsV1 = mergeFields(mf.FieldsV1, legacy.FieldsV1)
			return out, true
		}
	}
	legacy.Manager = manager
	out = append(out[:i], append([]metav1.ManagedFieldsEntry{legacy}, out[i:]...)...)
	return out, true
}

// mergeFields is the union of two field sets in the FieldsV1 encoding: JSON
// objects whose keys are path elements and whose leaves are empty objects.
func mergeFields(a, b *metav1.FieldsV1) *metav1.FieldsV1 {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	var ma, mb map[string]any
	if json.Unmarshal(a.GetRawBytes(), &ma) != nil || json.Unmarshal(b.GetRawBytes(), &mb) != nil {
		return a
	}
	raw, err := json.Marshal(mergeTrees(ma, mb))
	if err != nil {
		return a
	}
	return metav1.NewFieldsV1(string(raw))
}

func mergeTrees(a, b map[string]any) map[string]any {
	if a == nil {
		a = map[string]any{}
	}
	for k, vb := range b {
		ta, _ := a[k].(map[string]any)
		tb, _ := vb.(map[string]any)
		a[k] = mergeTrees(ta, tb)
	}
	return a
}

// raceOwner tells, from a failed apply, whether another sync set's field
// manager owns the part-of label: the object was claimed by another set
// between this run's check and its write. It returns the set's name.
func raceOwner(err error) (string, bool) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return "", false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict || !strings.Contains(c.Field, applyset.LabelPartOf) {
			continue
		}
		manager := c.Message
		if _, rest, ok := strings.Cut(manager, `"`); ok {
			manager, _, _ = strings.Cut(rest, `"`)
		}
		if s, ok := setOfManager(manager); ok {
			return s, true
		}
		return "field manager " + manager, true
	}
	return "", false
}

// modifiedConflict says whether an apply failed on its resourceVersion
// precondition rather than on fields owned by another manager.
func modifiedConflict(err error) bool {
	if !apierrors.IsConflict(err) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Details != nil {
		for _, c := range status.Status().Details.Causes {
			if c.Type == metav1.CauseTypeFieldManagerConflict {
				return false
			}
		}
	}
	return true
}
