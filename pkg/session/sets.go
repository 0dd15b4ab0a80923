package session

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// notFound is the error for a set name that has no parent in the
// session's namespace: it names the sets that are there, so that a typo
// shows. It wraps applyset.ErrNotFound.
func (s *Session) notFound(ctx context.Context) error {
	there := "there are no sync sets there"
	if names, err := s.cluster.setNames(ctx, s.namespace); err != nil {
		there = fmt.Sprintf("listing the sync sets there failed: %v", err)
	} else if len(names) > 0 {
		there = "the sync sets there are " + strings.Join(names, ", ")
	}
	return fmt.Errorf("no sync set %q in namespace %s (%w): %s. Check --name and -n, or pass --repo to name the source of a new set", s.opts.Name, s.namespace, applyset.ErrNotFound, there)
}

// SetNames returns the names of the sync sets in namespace, sorted: the
// ConfigMaps that are ApplySet parents of kubectl-gitops.
func SetNames(ctx context.Context, client corev1client.ConfigMapsGetter, namespace string) ([]string, error) {
	list, err := client.ConfigMaps(namespace).List(ctx, metav1.ListOptions{LabelSelector: applyset.LabelID})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, cm := range list.Items {
		tool, _, _ := strings.Cut(cm.Annotations[applyset.AnnotationTooling], "/")
		if tool == applyset.ToolingName {
			names = append(names, cm.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}
