package applyset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Keys of the parent's data.
const (
	dataRecord  = "record.json"
	dataMembers = "members"
)

// Set is a sync set: its parent object, as read from the cluster, and what
// the parent records.
type Set struct {
	Name      string
	Namespace string
	// ID is the value of the parent's id label and of the members' part-of label.
	ID string
	// Tooling is the value written into the tooling annotation.
	Tooling string
	// Exists says whether the parent is in the cluster.
	Exists bool
	// GroupKinds and Namespaces are what the parent says members may be:
	// the kinds to list and the namespaces to list them in (the parent's
	// own namespace included).
	GroupKinds map[schema.GroupKind]bool
	Namespaces map[string]bool
	// Record is the sync record.
	Record Record
	// Members holds what the last runs applied, to skip objects that changed
	// neither in git nor in the cluster.
	Members Members

	parent *corev1.ConfigMap
}

// ErrNotFound is returned by Load when the parent is missing and must exist.
var ErrNotFound = errors.New("sync set not found")

// Load reads the parent of the set name in namespace. A missing parent gives
// an empty set that does not exist yet. A ConfigMap of that name that is not
// a parent of kubectl-gitops is an error: it is never adopted.
func Load(ctx context.Context, client corev1client.ConfigMapsGetter, name, namespace, version string) (*Set, error) {
	s := &Set{
		Name:       name,
		Namespace:  namespace,
		ID:         ID(name, namespace, ParentKind, ""),
		Tooling:    ToolingName + "/" + version,
		GroupKinds: map[schema.GroupKind]bool{},
		Namespaces: map[string]bool{namespace: true},
		Members:    Members{},
	}
	cm, err := client.ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the parent of sync set %q (configmap %s/%s): %w", name, namespace, name, err)
	}
	if err := s.adopt(cm); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) adopt(cm *corev1.ConfigMap) error {
	where := fmt.Sprintf("configmap %s/%s", cm.Namespace, cm.Name)
	if cm.Labels[LabelID] != s.ID {
		return fmt.Errorf("%s exists and is not the parent of sync set %q (label %s is %q, want %q): it is left alone; choose another --name",
			where, s.Name, LabelID, cm.Labels[LabelID], s.ID)
	}
	tooling := cm.Annotations[AnnotationTooling]
	if tool, _, _ := strings.Cut(tooling, "/"); tool != ToolingName {
		return fmt.Errorf("%s is the parent of an ApplySet managed by %q, not %s: it is left alone; choose another --name", where, tooling, ToolingName)
	}
	s.Exists = true
	s.parent = cm
	s.GroupKinds = parseGroupKinds(cm.Annotations[AnnotationGKs])
	s.Namespaces = parseNamespaces(cm.Annotations[AnnotationNSs])
	s.Namespaces[s.Namespace] = true
	if raw := cm.Data[dataRecord]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &s.Record); err != nil {
			return fmt.Errorf("%s: the sync record (data %q) is not valid JSON: %w", where, dataRecord, err)
		}
	}
	members, err := ParseMembers(cm.Data[dataMembers])
	if err != nil {
		return fmt.Errorf("%s: data %q: %w", where, dataMembers, err)
	}
	s.Members = members
	return nil
}

// Widen adds group-kinds and namespaces to the parent, creating the parent
// when it does not exist yet. It runs before anything is applied, so that a
// crash after applying leaves every member findable for the next prune.
func (s *Set) Widen(ctx context.Context, client corev1client.ConfigMapsGetter, gks map[schema.GroupKind]bool, namespaces map[string]bool) error {
	union := maps.Clone(s.GroupKinds)
	maps.Copy(union, gks)
	nss := maps.Clone(s.Namespaces)
	maps.Copy(nss, namespaces)
	if s.Exists && len(union) == len(s.GroupKinds) && len(nss) == len(s.Namespaces) {
		return nil
	}
	s.GroupKinds, s.Namespaces = union, nss
	return s.write(ctx, client)
}

// Save narrows the parent to the given group-kinds and namespaces (what the
// set holds after pruning) and writes the record and member state.
func (s *Set) Save(ctx context.Context, client corev1client.ConfigMapsGetter, gks map[schema.GroupKind]bool, namespaces map[string]bool) error {
	s.GroupKinds = maps.Clone(gks)
	s.Namespaces = maps.Clone(namespaces)
	s.Namespaces[s.Namespace] = true
	return s.write(ctx, client)
}

// WriteRecord writes the record of a set that exists, as it is now (a
// suspension, its end), leaving the kinds, namespaces and members as they
// are. The write fails if the parent changed since it was read.
func (s *Set) WriteRecord(ctx context.Context, client corev1client.ConfigMapsGetter) error {
	if !s.Exists {
		return fmt.Errorf("sync set %q has no parent (configmap %s/%s) to write: %w", s.Name, s.Namespace, s.Name, ErrNotFound)
	}
	return s.write(ctx, client)
}

func (s *Set) write(ctx context.Context, client corev1client.ConfigMapsGetter) error {
	record, err := json.MarshalIndent(s.Record, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the sync record: %w", err)
	}
	cm := &corev1.ConfigMap{}
	if s.parent != nil {
		cm = s.parent.DeepCopy()
	}
	cm.Name, cm.Namespace = s.Name, s.Namespace
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Labels[LabelID] = s.ID
	cm.Labels["app.kubernetes.io/managed-by"] = ToolingName
	cm.Annotations[AnnotationTooling] = s.Tooling
	cm.Annotations[AnnotationGKs] = formatGroupKinds(s.GroupKinds)
	cm.Annotations[AnnotationNSs] = formatNamespaces(s.Namespaces, s.Namespace)
	delete(cm.Annotations, annotationGRsOlder)
	cm.Data[dataRecord] = string(record)
	cm.Data[dataMembers] = s.Members.String()

	var saved *corev1.ConfigMap
	if s.Exists {
		saved, err = client.ConfigMaps(s.Namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: ToolingName})
	} else {
		saved, err = client.ConfigMaps(s.Namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: ToolingName})
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the parent of sync set %q (configmap %s/%s) was changed by someone else during this run (another sync of the same set?): run again: %w", s.Name, s.Namespace, s.Name, err)
	}
	if err != nil {
		return fmt.Errorf("writing the parent of sync set %q (configmap %s/%s): %w", s.Name, s.Namespace, s.Name, err)
	}
	s.parent = saved
	s.Exists = true
	return nil
}
