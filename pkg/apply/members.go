package apply

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
)

// Missing is the health of a member the set's record names that is not in
// the cluster.
const Missing = "Missing"

// Member is an object of a set with its health.
type Member struct {
	Object applyset.ObjectID `json:"object"`
	Health Health            `json:"health"`
}

// Members lists the objects of the set in the cluster, with their health
// as kstatus computes it.
func (c *Client) Members(ctx context.Context, set *applyset.Set, concurrency int) ([]Member, error) {
	return c.MembersWithRules(ctx, set, concurrency, nil)
}

// MembersWithRules is Members with health rules: objects of a kind with a
// rule in checker are judged by it (pkg/health), others by kstatus.
func (c *Client) MembersWithRules(ctx context.Context, set *applyset.Set, concurrency int, checker *health.Checker) ([]Member, error) {
	var mu sync.Mutex
	var out []Member
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for gk := range set.GroupKinds {
		m, err := c.mapping(gk)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up kind %s: %w", gk, err)
		}
		namespaces := []string{""}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			namespaces = namespaces[:0]
			for ns := range set.Namespaces {
				namespaces = append(namespaces, ns)
			}
		}
		for _, ns := range namespaces {
			g.Go(func() error {
				list, err := c.Dynamic.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: applyset.LabelPartOf + "=" + set.ID})
				if apierrors.IsNotFound(err) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("listing %s in %q: %w", gk, ns, err)
				}
				mu.Lock()
				defer mu.Unlock()
				for i := range list.Items {
					obj := &list.Items[i]
					h := Health{Status: string(status.UnknownStatus)}
					if res, err := checker.Status(obj); err == nil {
						h = Health{Status: string(res.Status), Message: res.Message}
					}
					out = append(out, Member{
						Object: applyset.ObjectID{Group: gk.Group, Kind: gk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()},
						Health: h,
					})
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// The record names what the last run applied: what is not in the
	// cluster any more was deleted by hand (or its kind was removed).
	found := make(map[applyset.ObjectID]bool, len(out))
	for _, m := range out {
		found[m.Object] = true
	}
	for id := range set.Members {
		if !found[id] {
			out = append(out, Member{Object: id, Health: Health{Status: Missing, Message: "applied by the last sync but not in the cluster (deleted by hand?): the next sync creates it again"}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Object.String() < out[j].Object.String() })
	return out, nil
}
