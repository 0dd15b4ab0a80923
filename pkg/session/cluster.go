package session

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
)

// cluster is what the use cases ask of the cluster. kube, below, is the
// cluster of the kubeconfig; the use cases' unit tests give a fake.
type cluster interface {
	loadSet(ctx context.Context, name, namespace string) (*applyset.Set, error)
	setNames(ctx context.Context, namespace string) ([]string, error)
	plan(objects []render.Object, opts apply.PlanOptions) (*apply.Plan, error)
	sync(ctx context.Context, set *applyset.Set, plan *apply.Plan, opts apply.Options) (*apply.Result, error)
	members(ctx context.Context, set *applyset.Set) ([]apply.Member, error)
}

// kube is the cluster through the engine's client.
type kube struct{ client *apply.Client }

func (k kube) loadSet(ctx context.Context, name, namespace string) (*applyset.Set, error) {
	return applyset.Load(ctx, k.client.Kube.CoreV1(), name, namespace, version.Version())
}

func (k kube) setNames(ctx context.Context, namespace string) ([]string, error) {
	return SetNames(ctx, k.client.Kube.CoreV1(), namespace)
}

// plan checks the objects into a plan. A kind the cluster does not know is
// looked up again with fresh discovery (a CRD may have been installed since
// discovery was cached) before the plan fails.
func (k kube) plan(objects []render.Object, opts apply.PlanOptions) (*apply.Plan, error) {
	plan, err := apply.NewPlan(objects, k.client.Mapper, opts)
	if err == nil || transient(err) {
		return plan, err
	}
	m, ok := k.client.Mapper.(meta.ResettableRESTMapper)
	if !ok {
		return nil, err
	}
	m.Reset()
	return apply.NewPlan(objects, k.client.Mapper, opts)
}

func (k kube) sync(ctx context.Context, set *applyset.Set, plan *apply.Plan, opts apply.Options) (*apply.Result, error) {
	return apply.Sync(ctx, k.client, set, plan, opts)
}

// members judges the set's members by the health rules its record keeps
// (recordedChecker), kstatus for other kinds, or for all when the
// recorded rules do not compile (Status says so).
func (k kube) members(ctx context.Context, set *applyset.Set) ([]apply.Member, error) {
	checker, _ := recordedChecker(set)
	return k.client.MembersWithRules(ctx, set, 8, checker)
}
