package apply

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
)

// pollInterval is how often wait looks at the objects again.
const pollInterval = time.Second

// Health is an object's readiness, as kstatus or a health rule computes it.
type Health struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Ready says whether the object is ready.
func (h Health) Ready() bool { return h.Status == string(status.CurrentStatus) }

// health reads one object and computes its status, by its kind's rule in
// checker (nil: none) or else kstatus.
func (c *Client) health(ctx context.Context, it *Item, checker *health.Checker) Health {
	if it.Mapping == nil {
		return Health{Status: string(status.NotFoundStatus), Message: "its kind is not served yet"}
	}
	obj, err := c.resource(it.Mapping, it.ID.Namespace).Get(ctx, it.ID.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Health{Status: string(status.NotFoundStatus), Message: "not found"}
	}
	if err != nil {
		return Health{Status: string(status.UnknownStatus), Message: err.Error()}
	}
	res, err := checker.Status(obj)
	if err != nil {
		return Health{Status: string(status.UnknownStatus), Message: err.Error()}
	}
	return Health{Status: string(res.Status), Message: res.Message}
}

// wait polls the items until all are ready or the timeout passes, and
// returns a line for each item that is not ready then. onPoll, when set,
// gets what is not ready after each poll.
func (r *run) wait(ctx context.Context, items []*Item, timeout time.Duration, onPoll func([]Pending)) ([]string, error) {
	return r.c.waitReady(ctx, items, timeout, r.opts.Concurrency, r.checker, onPoll)
}

// Pending is an object that is not ready yet, and why.
type Pending struct {
	Object applyset.ObjectID
	Health Health
}

// String is "Kind/namespace/name: status: message".
func (p Pending) String() string {
	return fmt.Sprintf("%s: %s: %s", p.Object, p.Health.Status, p.Health.Message)
}

// WaitReady polls the items until all are ready or the timeout passes, and
// returns "Kind/namespace/name: status: message" for each one still not ready.
// onPoll, when set, is called after each poll with the objects not ready yet
// (none once all are), sorted.
func (c *Client) WaitReady(ctx context.Context, items []*Item, timeout time.Duration, concurrency int, onPoll func([]Pending)) ([]string, error) {
	return c.waitReady(ctx, items, timeout, concurrency, nil, onPoll)
}

// waitReady is WaitReady with health rules.
func (c *Client) waitReady(ctx context.Context, items []*Item, timeout time.Duration, concurrency int, checker *health.Checker, onPoll func([]Pending)) ([]string, error) {
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	pending := items
	last := map[*Item]Health{}
	for {
		var mu sync.Mutex
		var next []*Item
		var g errgroup.Group
		g.SetLimit(max(concurrency, 1))
		for _, it := range pending {
			g.Go(func() error {
				h := c.health(ctx, it, checker)
				mu.Lock()
				defer mu.Unlock()
				last[it] = h
				if !h.Ready() {
					next = append(next, it)
				}
				return nil
			})
		}
		_ = g.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pending = next
		if onPoll != nil {
			ps := make([]Pending, 0, len(pending))
			for _, it := range pending {
				ps = append(ps, Pending{Object: it.ID, Health: last[it]})
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i].Object.String() < ps[j].Object.String() })
			onPoll(ps)
		}
		if len(pending) == 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			var out []string
			for _, it := range pending {
				h := last[it]
				out = append(out, fmt.Sprintf("%s: %s: %s", it.ID, h.Status, h.Message))
			}
			sort.Strings(out)
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}
