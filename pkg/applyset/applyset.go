// Package applyset keeps the parent object of a sync set, compatible with
// kubectl's ApplySet (KEP-3659): the parent's id label, the member label, the
// tooling, group-kinds and namespaces annotations, and, in the parent's data,
// the sync record of kubectl-gitops.
//
// The parent is a ConfigMap named after the sync set, in the default
// namespace. kubectl reads it with `--applyset=configmap/NAME`.
package applyset

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Labels and annotations defined by kubectl's ApplySet.
const (
	LabelID            = "applyset.kubernetes.io/id"
	LabelPartOf        = "applyset.kubernetes.io/part-of"
	AnnotationTooling  = "applyset.kubernetes.io/tooling"
	AnnotationGKs      = "applyset.kubernetes.io/contains-group-kinds"
	AnnotationNSs      = "applyset.kubernetes.io/additional-namespaces"
	annotationGRsOlder = "applyset.kubernetes.io/contains-group-resources"
)

// ToolingName is the tool half of the tooling annotation.
const ToolingName = "kubectl-gitops"

// ParentKind is the kind of the parent object.
const ParentKind = "ConfigMap"

// ID is the value of the parent's id label and of every member's part-of
// label, computed as kubectl does for a parent of the given kind and group.
func ID(name, namespace, kind, group string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{name, namespace, kind, group}, ".")))
	return fmt.Sprintf("applyset-%s-v1", base64.RawURLEncoding.EncodeToString(sum[:]))
}

// ObjectID names one object of a set.
type ObjectID struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// GroupKind returns the object's group and kind.
func (id ObjectID) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: id.Group, Kind: id.Kind}
}

// String returns Kind/namespace/name, or Kind/name for cluster-scoped objects.
func (id ObjectID) String() string {
	if id.Namespace == "" {
		return id.Kind + "/" + id.Name
	}
	return id.Kind + "/" + id.Namespace + "/" + id.Name
}

// formatGroupKinds formats group-kinds as kubectl does: Kind.group, sorted,
// comma-separated.
func formatGroupKinds(gks map[schema.GroupKind]bool) string {
	list := make([]string, 0, len(gks))
	for gk := range gks {
		list = append(list, gk.String())
	}
	sort.Strings(list)
	return strings.Join(list, ",")
}

func parseGroupKinds(s string) map[schema.GroupKind]bool {
	gks := map[schema.GroupKind]bool{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			gks[schema.ParseGroupKind(part)] = true
		}
	}
	return gks
}

func formatNamespaces(nss map[string]bool, skip string) string {
	list := make([]string, 0, len(nss))
	for ns := range nss {
		if ns != skip && ns != "" {
			list = append(list, ns)
		}
	}
	sort.Strings(list)
	return strings.Join(list, ",")
}

func parseNamespaces(s string) map[string]bool {
	nss := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			nss[part] = true
		}
	}
	return nss
}

// IsParent says whether an object with these labels and annotations is the
// parent of an ApplySet, of any tool: it carries the id label or one of the
// parent annotations. A sync never applies such an object from a repository,
// nor takes one over in the cluster.
func IsParent(labels, annotations map[string]string) bool {
	if _, ok := labels[LabelID]; ok {
		return true
	}
	for _, a := range []string{AnnotationTooling, AnnotationGKs, AnnotationNSs, annotationGRsOlder} {
		if _, ok := annotations[a]; ok {
			return true
		}
	}
	return false
}
