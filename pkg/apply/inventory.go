package apply

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// Live is an object in the cluster that belongs to an ApplySet, as far as
// its metadata tells.
type Live struct {
	ID              applyset.ObjectID
	UID             types.UID
	ResourceVersion string
	PartOf          string
	Annotations     map[string]string
	// ManagedFields tell which sync set's field manager applied it, and
	// whether the shared manager of earlier versions did.
	ManagedFields []metav1.ManagedFieldsEntry
	Mapping       *meta.RESTMapping
}

// Inventory lists, by metadata only, the objects of the given kinds in the
// given namespaces that carry an ApplySet part-of label of any set. Kinds the
// cluster no longer serves are skipped: nothing of them can be left.
func (c *Client) Inventory(ctx context.Context, gks map[schema.GroupKind]bool, namespaces map[string]bool, concurrency int) (map[applyset.ObjectID]*Live, error) {
	type query struct {
		mapping   *meta.RESTMapping
		namespace string
	}
	var queries []query
	for gk := range gks {
		m, err := c.mapping(gk)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up kind %s: %w", gk, err)
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			queries = append(queries, query{mapping: m})
			continue
		}
		for ns := range namespaces {
			queries = append(queries, query{mapping: m, namespace: ns})
		}
	}

	var mu sync.Mutex
	live := map[applyset.ObjectID]*Live{}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for _, q := range queries {
		g.Go(func() error {
			list, err := c.Metadata.Resource(q.mapping.Resource).Namespace(q.namespace).List(ctx, metav1.ListOptions{LabelSelector: applyset.LabelPartOf})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				where := q.mapping.GroupVersionKind.Kind
				if q.namespace != "" {
					where += " in namespace " + q.namespace
				}
				return fmt.Errorf("listing %s: %w", where, err)
			}
			gk := q.mapping.GroupVersionKind.GroupKind()
			mu.Lock()
			defer mu.Unlock()
			for _, item := range list.Items {
				id := applyset.ObjectID{Group: gk.Group, Kind: gk.Kind, Namespace: item.Namespace, Name: item.Name}
				live[id] = &Live{
					ID:              id,
					UID:             item.UID,
					ResourceVersion: item.ResourceVersion,
					PartOf:          item.Labels[applyset.LabelPartOf],
					Annotations:     item.Annotations,
					ManagedFields:   item.ManagedFields,
					Mapping:         q.mapping,
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return live, nil
}
