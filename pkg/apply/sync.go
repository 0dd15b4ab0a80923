// Package apply makes the cluster match a plan: server-side apply in stages
// with bounded parallelism, ApplySet pruning, dry runs and diffs, and waiting
// for health.
package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
)

// Options steer a run.
type Options struct {
	// ForceConflicts takes over fields owned by other field managers.
	ForceConflicts bool
	// DryRun sends every write as a server-side dry run; the parent is not
	// written either.
	DryRun bool
	// Diff computes a unified diff per object (implies DryRun).
	Diff bool
	// Prune deletes members of the set that are no longer in the plan.
	Prune bool
	// AllowEmpty lets a plan without objects prune every member of the
	// set; without it such a run is refused (ErrEmpty).
	AllowEmpty bool
	// Adopt takes over objects that exist in the cluster outside any set;
	// without it they are refused (ErrOutside). Objects of another set and
	// ApplySet parents are refused either way.
	Adopt bool
	// Wait waits up to Timeout for what was applied to become ready.
	Wait    bool
	Timeout time.Duration
	// Concurrency bounds the requests in flight within a stage.
	Concurrency int
	// OnWait, when set, is called while waiting, after each look at the
	// objects, with those not ready yet.
	OnWait func([]Pending)
	// OnLine, when set, is called with each object's outcome as it happens,
	// one call at a time.
	OnLine func(Line)
	// Revision and Source are written into the set's record.
	Revision string
	Source   applyset.Source
	// HealthRules say when objects of their kinds are ready (pkg/health);
	// Wait uses them, and kstatus for other kinds. A rule that does not
	// compile fails the run before anything is written.
	HealthRules []health.Rule
}

// Sync applies the plan to the cluster as members of the set, prunes what
// left, waits when asked, and records the run in the set's parent.
//
// It returns an error only when the run could not start or could not record
// itself; objects that fail are reported in the result's lines, and then
// nothing is pruned and the revision is not recorded as synced. A run that
// would touch what the set does not own, or prune it down to nothing, is
// refused before anything is written (ErrParent, ErrForeign, ErrOutside,
// ErrEmpty; see checkOwnership), as is a health rule that does not compile.
//
// Each object's ssa annotation (Item.Policy) is followed: IfNotPresent is
// created when missing and never written after, Ignore is never applied
// nor pruned, and a member that gets it is released from the set. The
// spec.replicas of a workload that a HorizontalPodAutoscaler targets is
// left to it (leaveReplicasToAutoscalers); Result.Warnings says so.
func Sync(ctx context.Context, c *Client, set *applyset.Set, plan *Plan, opts Options) (*Result, error) {
	start := time.Now()
	if opts.Diff {
		opts.DryRun = true
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	checker, err := health.Compile(opts.HealthRules)
	if err != nil {
		return nil, fmt.Errorf("health rules: %w; nothing was written: fix the rule", err)
	}
	// The run may change the items it applies (leaveReplicasToAutoscalers):
	// the caller's plan stays as it was.
	p := *plan
	plan = &p
	r := &run{c: c, set: set, plan: plan, opts: opts, result: &Result{DryRun: opts.DryRun}, manager: SetFieldManager(set), checker: checker}

	gks := union(set.GroupKinds, plan.GroupKinds)
	nss := union(set.Namespaces, plan.Namespaces)
	live, err := c.Inventory(ctx, gks, nss, opts.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("reading what the cluster holds of sync set %q: %w", set.Name, err)
	}
	r.live = live
	if err := r.checkOwnership(ctx); err != nil {
		return nil, err
	}
	r.leaveReplicasToAutoscalers(ctx)

	if !opts.DryRun {
		if err := set.Widen(ctx, c.Kube.CoreV1(), plan.GroupKinds, plan.Namespaces); err != nil {
			return nil, err
		}
	}

	for stage := range numStages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.applyStage(ctx, stage)
		if stage == StageNamespaces {
			r.afterCRDs(ctx)
		}
	}
	for i, it := range plan.Ignored {
		l := r.ignore(ctx, it)
		l.stage, l.index = it.Stage, len(plan.Items)+i
		r.report(l)
	}

	failed := r.failed()
	pruned := false
	if opts.Prune && !failed {
		r.prune(ctx)
		pruned = !r.failed()
	}
	if opts.Wait && !opts.DryRun && !r.failed() {
		notReady, err := r.wait(ctx, plan.Items, opts.Timeout, opts.OnWait)
		if err != nil {
			return nil, err
		}
		r.result.NotReady = notReady
	}

	sort.SliceStable(r.result.Lines, func(i, j int) bool {
		a, b := r.result.Lines[i], r.result.Lines[j]
		if a.stage != b.stage {
			return a.stage < b.stage
		}
		return a.index < b.index
	})
	r.result.count()
	r.result.Duration = time.Since(start)
	if opts.DryRun {
		return r.result, nil
	}
	if err := r.record(ctx, start, pruned); err != nil {
		return r.result, err
	}
	return r.result, nil
}

// run is the state of one Sync.
type run struct {
	c      *Client
	set    *applyset.Set
	plan   *Plan
	opts   Options
	live   map[applyset.ObjectID]*Live
	result *Result
	// manager is the set's field manager.
	manager string
	// adopted holds the objects outside the set that this run takes over,
	// as the check read them.
	adopted map[applyset.ObjectID]*metav1.PartialObjectMetadata
	// present holds the objects with the IfNotPresent policy that exist
	// outside the set: they are left alone.
	present map[applyset.ObjectID]bool
	// replicasLeft holds, by object, the manifest with spec.replicas of the
	// workloads whose replicas are left to an autoscaler.
	replicasLeft map[applyset.ObjectID]*unstructured.Unstructured
	// notes are said in an object's line, besides its warning.
	notes   map[applyset.ObjectID]string
	checker *health.Checker

	mu sync.Mutex
	// applied holds the resourceVersion each applied item ended up with.
	applied map[applyset.ObjectID]string
}

func (r *run) report(l Line) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.result.Lines = append(r.result.Lines, l)
	if r.opts.OnLine != nil {
		r.opts.OnLine(l)
	}
}

// warn adds a warning to the result.
func (r *run) warn(w string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.result.Warnings = append(r.result.Warnings, w)
}

// warnObject adds a warning about one object, also said in its line.
func (r *run) warnObject(id applyset.ObjectID, w string) {
	r.warn(id.String() + ": " + w)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notes == nil {
		r.notes = map[applyset.ObjectID]string{}
	}
	r.notes[id] = w
}

func (r *run) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.result.Lines {
		if l.Action == Failed {
			return true
		}
	}
	return false
}

// applyStage applies one stage's items in parallel.
func (r *run) applyStage(ctx context.Context, stage int) {
	var g errgroup.Group
	g.SetLimit(r.opts.Concurrency)
	for i, it := range r.plan.Items {
		if it.Stage != stage {
			continue
		}
		g.Go(func() error {
			l := r.applyItem(ctx, it)
			l.stage, l.index = stage, i
			if note := r.notes[it.ID]; note != "" && l.Action != Failed {
				l.Message = strings.TrimPrefix(l.Message+"; "+note, "; ")
			}
			r.report(l)
			return nil
		})
	}
	_ = g.Wait()
}

func (r *run) applyItem(ctx context.Context, it *Item) Line {
	l := Line{Object: it.ID, Origin: it.Origin.String()}
	live := r.live[it.ID]
	if it.Policy == annotations.SSAIfNotPresent && (live != nil || r.present[it.ID]) {
		// live is a member: the check refused any other set's object.
		l.Action, l.Message = Unchanged, "IfNotPresent: it exists, and a sync never changes it"
		if live != nil {
			r.setApplied(it.ID, live.ResourceVersion)
		}
		return l
	}
	if st, ok := r.set.Members[it.ID]; ok && live != nil && st.Hash == it.Hash && st.ResourceVersion == live.ResourceVersion {
		l.Action = Unchanged
		r.setApplied(it.ID, live.ResourceVersion)
		return l
	}
	if it.Mapping == nil {
		if r.opts.DryRun {
			l.Action = Created
			l.Message = "not validated: its CustomResourceDefinition is not in the cluster yet"
			return l
		}
		l.Action, l.Message = Failed, "its CustomResourceDefinition did not become established"
		return l
	}
	var before *unstructured.Unstructured
	if r.opts.DryRun {
		// A dry run bumps no resourceVersion: compare with the live object.
		obj, err := r.c.resource(it.Mapping, it.ID.Namespace).Get(ctx, it.ID.Name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			l.Action, l.Message = Failed, fmt.Sprintf("reading the live object: %v", err)
			return l
		}
		if err == nil {
			before = obj
		}
	}
	ao, err := r.applyOptions(ctx, it, live)
	if err != nil {
		l.Action, l.Message = Failed, err.Error()
		return l
	}
	after, created, err := r.c.serverSideApply(ctx, it, ao)
	conflict := ""
	if r.opts.Diff && !ao.force && fieldConflict(err) {
		// diff shows what a forced sync would change, marked as a conflict.
		conflict, ao.force = conflictMessage(err), true
		after, created, err = r.c.serverSideApply(ctx, it, ao)
	}
	if err != nil {
		if r.opts.DryRun && apierrors.IsNotFound(err) && r.plan.Namespaces[it.ID.Namespace] && r.namespaceInPlan(it.ID.Namespace) {
			l.Action = Created
			l.Message = fmt.Sprintf("not validated: namespace %s is created by this sync", it.ID.Namespace)
			if r.opts.Diff {
				l.Diff = objectDiff(it.ID, nil, it.Object)
			}
			return l
		}
		l.Action, l.Message = Failed, r.applyError(it, err).Error()
		return l
	}
	switch {
	case created || (r.opts.DryRun && before == nil):
		l.Action = Created
	case r.opts.DryRun:
		l.Action = Configured
		if l.Diff = objectDiff(it.ID, before, after); l.Diff == "" {
			l.Action = Unchanged
		}
	case live != nil && live.ResourceVersion == after.GetResourceVersion():
		l.Action = Unchanged
	default:
		l.Action = Configured
	}
	if r.opts.Diff && l.Action == Created {
		l.Diff = objectDiff(it.ID, nil, after)
	}
	if !r.opts.Diff {
		l.Diff = ""
	}
	if _, adopted := r.adopted[it.ID]; adopted && l.Action != Created {
		l.Message = "taken over into the set"
		if r.opts.DryRun {
			l.Message = "would be taken over into the set"
		}
	}
	if conflict != "" {
		l.Message = conflict
	}
	r.setApplied(it.ID, after.GetResourceVersion())
	return l
}

// applyOptions decides how an item is applied so that ownership holds at
// write time. A member is applied as the set's field manager, forced when
// asked; one still managed by the shared manager of earlier versions is
// first moved to the set's manager (a dry run applies it as the old manager
// instead, which gives the same answer without a write). An object taken
// over is applied with the resourceVersion the check saw: a concurrent
// change fails. An object that did not exist at the check is never forced:
// if another set created it since, its field manager owns the part-of label
// and the apply fails with a conflict instead of taking it.
func (r *run) applyOptions(ctx context.Context, it *Item, live *Live) (applyOptions, error) {
	ao := applyOptions{manager: r.manager, dryRun: r.opts.DryRun}
	var m *metav1.ObjectMeta
	switch adopted := r.adopted[it.ID]; {
	case live != nil:
		ao.force = r.opts.ForceConflicts
		m = &metav1.ObjectMeta{ResourceVersion: live.ResourceVersion, ManagedFields: live.ManagedFields}
	case adopted != nil:
		ao.force = r.opts.ForceConflicts
		m = adopted.ObjectMeta.DeepCopy()
	default:
		return ao, nil
	}
	if hasLegacy(m.ManagedFields) {
		if r.opts.DryRun {
			ao.manager = FieldManager
		} else {
			moved, err := r.c.takeOverLegacy(ctx, it, m, r.manager)
			if err != nil {
				return ao, err
			}
			m = moved
			if live != nil {
				r.mu.Lock()
				live.ResourceVersion = m.ResourceVersion
				r.mu.Unlock()
			}
		}
	}
	obj := it.Object
	if withReplicas := r.replicasLeft[it.ID]; withReplicas != nil && ownsReplicas(m.ManagedFields, ao.manager) {
		if r.opts.DryRun {
			// The real run hands the field over first, which keeps its
			// value: show that, not a reset to the default.
			obj = withReplicas
		} else {
			rv, err := r.c.handOverReplicas(ctx, it)
			if err != nil {
				return ao, fmt.Errorf("handing spec.replicas over to its autoscaler: %w", err)
			}
			m.ResourceVersion = rv
			if live != nil {
				r.mu.Lock()
				live.ResourceVersion = rv
				r.mu.Unlock()
			}
		}
	}
	if live == nil || obj != it.Object {
		obj = obj.DeepCopy()
		if live == nil {
			obj.SetResourceVersion(m.ResourceVersion)
		}
		body, err := json.Marshal(obj.Object)
		if err != nil {
			return ao, fmt.Errorf("encoding: %w", err)
		}
		ao.body = body
	}
	return ao, nil
}

// ignore reports an object the sync leaves alone. One with the ssa policy
// Ignore that is a member of the set is released from it (its part-of
// label removed), as a member kept on prune is: it is never pruned, even
// after it leaves the repository.
func (r *run) ignore(ctx context.Context, it *Item) Line {
	l := Line{Object: it.ID, Action: Ignored, Origin: it.Origin.String(), Message: "annotation ignore: \"true\""}
	if it.Policy != annotations.SSAIgnore {
		return l
	}
	l.Message = "ssa: Ignore"
	live := r.live[it.ID]
	if live == nil || live.PartOf != r.set.ID {
		return l
	}
	var dryRun []string
	if r.opts.DryRun {
		dryRun = []string{metav1.DryRunAll}
	}
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, applyset.LabelPartOf)
	_, err := r.c.resource(live.Mapping, it.ID.Namespace).Patch(ctx, it.ID.Name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRun, FieldManager: r.manager})
	switch {
	case err != nil && !apierrors.IsNotFound(err):
		l.Action, l.Message = Failed, fmt.Sprintf("ssa: Ignore: releasing it from the set: %v", err)
	case r.opts.DryRun:
		l.Message += "; would be released from the set, and never pruned"
	default:
		l.Message += "; released from the set, and never pruned"
	}
	return l
}

// applyError explains a failed apply: another set claimed the object while
// this run was under way, an object being taken over changed meanwhile, or
// another field manager owns fields.
func (r *run) applyError(it *Item, err error) error {
	if owner, ok := raceOwner(err); ok {
		return fmt.Errorf("%w: %s claimed it while this sync ran (two syncs at once); it is left to that set: remove it from one of the two sets (%w)", ErrForeign, owner, err)
	}
	if _, adopted := r.adopted[it.ID]; adopted && modifiedConflict(err) {
		return fmt.Errorf("it changed while this sync was taking it over (another sync?), and was left alone: run again (%w)", err)
	}
	return conflictHint(err)
}

func (r *run) namespaceInPlan(ns string) bool {
	for _, it := range r.plan.Items {
		if it.ID.Kind == "Namespace" && it.ID.Group == "" && it.ID.Name == ns {
			return true
		}
	}
	return false
}

func (r *run) setApplied(id applyset.ObjectID, rv string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied == nil {
		r.applied = map[applyset.ObjectID]string{}
	}
	r.applied[id] = rv
}

// afterCRDs waits for the CRDs just applied to be established, then maps the
// custom resources that waited for them.
func (r *run) afterCRDs(ctx context.Context) {
	var crds []*Item
	for _, it := range r.plan.Stage(StageNamespaces) {
		if it.ID.GroupKind() == crdGK {
			crds = append(crds, it)
		}
	}
	pending := false
	for _, it := range r.plan.Items {
		if it.Mapping == nil {
			pending = true
		}
	}
	if len(crds) == 0 || r.opts.DryRun {
		return
	}
	timeout := r.opts.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	if _, err := r.wait(ctx, crds, timeout, nil); err != nil {
		return
	}
	if !pending {
		return
	}
	r.c.resetMapper()
	for _, it := range r.plan.Items {
		if it.Mapping != nil {
			continue
		}
		gvk := it.Object.GroupVersionKind()
		if m, err := r.c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			it.Mapping = m
		}
	}
}

// prune deletes the members that left the plan, in reverse stage order, and
// releases those annotated to be kept.
func (r *run) prune(ctx context.Context) {
	inPlan := map[applyset.ObjectID]bool{}
	for _, it := range r.plan.Items {
		inPlan[it.ID] = true
	}
	for _, it := range r.plan.Ignored {
		inPlan[it.ID] = true
	}
	byStage := make([][]*Live, numStages)
	for id, l := range r.live {
		if l.PartOf != r.set.ID || inPlan[id] {
			continue
		}
		_, custom := r.plan.CRDs[id.GroupKind()]
		stage := stageOf(id.GroupKind(), l.Mapping.Scope.Name(), custom)
		byStage[stage] = append(byStage[stage], l)
	}
	for stage := numStages - 1; stage >= 0; stage-- {
		sort.Slice(byStage[stage], func(i, j int) bool { return byStage[stage][i].ID.String() < byStage[stage][j].ID.String() })
		var g errgroup.Group
		g.SetLimit(r.opts.Concurrency)
		for i, l := range byStage[stage] {
			g.Go(func() error {
				line := r.pruneOne(ctx, l)
				line.stage, line.index = numStages+(numStages-1-stage), i
				r.report(line)
				return nil
			})
		}
		_ = g.Wait()
	}
}

func (r *run) pruneOne(ctx context.Context, l *Live) Line {
	line := Line{Object: l.ID}
	client := r.c.resource(l.Mapping, l.ID.Namespace)
	var dryRun []string
	if r.opts.DryRun {
		dryRun = []string{metav1.DryRunAll}
	}
	if annotations.KeepOnPrune(l.Annotations) {
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, applyset.LabelPartOf)
		_, err := client.Patch(ctx, l.ID.Name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRun, FieldManager: r.manager})
		if err != nil && !apierrors.IsNotFound(err) {
			line.Action, line.Message = Failed, fmt.Sprintf("releasing from the set: %v", err)
			return line
		}
		line.Action, line.Message = Kept, "left the repository; kept because of its annotation, and released from the set"
		return line
	}
	if r.opts.Diff {
		if obj, err := client.Get(ctx, l.ID.Name, metav1.GetOptions{}); err == nil {
			line.Diff = objectDiff(l.ID, obj, nil)
		}
	}
	propagation := metav1.DeletePropagationBackground
	uid := l.UID
	err := client.Delete(ctx, l.ID.Name, metav1.DeleteOptions{
		DryRun:            dryRun,
		PropagationPolicy: &propagation,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		line.Action, line.Message = Failed, fmt.Sprintf("pruning: %v", err)
		return line
	}
	line.Action = Pruned
	return line
}

// record writes the run into the set's parent: the members' state, the
// kinds and namespaces (narrowed when pruning ran), and the history.
func (r *run) record(ctx context.Context, start time.Time, pruned bool) error {
	res := r.result
	members := applyset.Members{}
	for _, it := range r.plan.Items {
		if rv, ok := r.applied[it.ID]; ok {
			members[it.ID] = applyset.MemberState{Hash: it.Hash, ResourceVersion: rv}
		}
	}
	r.set.Members = members

	gks, nss := r.plan.GroupKinds, r.plan.Namespaces
	if !pruned {
		gks, nss = union(r.set.GroupKinds, gks), union(r.set.Namespaces, nss)
	} else {
		// Members kept by annotation were released; ignored ones stay.
		gks, nss = union(gks, nil), union(nss, nil)
		for _, it := range r.plan.Ignored {
			if it.Policy == annotations.SSAIgnore {
				continue // released
			}
			if l, ok := r.live[it.ID]; ok && l.PartOf == r.set.ID {
				gks[it.ID.GroupKind()] = true
				if it.ID.Namespace != "" {
					nss[it.ID.Namespace] = true
				}
			}
		}
	}

	run := applyset.Run{
		Revision: r.opts.Revision,
		Started:  start.UTC().Truncate(time.Second),
		Duration: res.Duration.Round(time.Millisecond),
		Outcome:  applyset.OutcomeSucceeded,
		Counts:   res.Counts,
	}
	if res.Failed() {
		run.Outcome = applyset.OutcomeFailed
		run.Message = failureSummary(res)
	}
	r.set.Record.Add(r.opts.Source, run)
	return r.set.Save(ctx, r.c.Kube.CoreV1(), gks, nss)
}

func failureSummary(res *Result) string {
	var parts []string
	if res.Counts.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d object(s) failed", res.Counts.Failed))
	}
	if len(res.NotReady) > 0 {
		parts = append(parts, fmt.Sprintf("%d object(s) not ready", len(res.NotReady)))
	}
	return strings.Join(parts, ", ")
}

func union[K comparable](a, b map[K]bool) map[K]bool {
	out := make(map[K]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
