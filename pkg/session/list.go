package session

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
)

// SetSummary is one sync set as get lists it: what the parent records,
// never a credential of its source.
type SetSummary struct {
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Source    applyset.Source `json:"source"`
	// Revision is the last revision synced without error.
	Revision string `json:"revision,omitempty"`
	// LastRun is the outcome of the newest run; nil before the first.
	LastRun *LastRun `json:"lastRun,omitempty"`
	// LastRunTime is when the newest run ended; zero before the first.
	LastRunTime time.Time `json:"lastRunTime,omitzero"`
	// Suspended says who held the set still, when and why; nil when not.
	Suspended *applyset.Suspension `json:"suspended,omitempty"`
	// Error says why the parent could not be read (a record that is not
	// valid JSON): the set is listed all the same.
	Error string `json:"error,omitempty"`
}

// setLister lists the parents of sync sets. kube has it; a fake cluster
// of a unit test may.
type setLister interface {
	listSets(ctx context.Context, namespace string) ([]*applyset.Set, []error, error)
}

// listSets reads every parent of kubectl-gitops in namespace (all
// namespaces when ""). A parent whose record cannot be read is returned
// with its error and no record.
func (k kube) listSets(ctx context.Context, namespace string) ([]*applyset.Set, []error, error) {
	list, err := k.client.Kube.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{LabelSelector: applyset.LabelID})
	if err != nil {
		return nil, nil, err
	}
	var sets []*applyset.Set
	var errs []error
	for _, cm := range list.Items {
		if tool, _, _ := strings.Cut(cm.Annotations[applyset.AnnotationTooling], "/"); tool != applyset.ToolingName {
			continue
		}
		set, err := applyset.Load(ctx, k.client.Kube.CoreV1(), cm.Name, cm.Namespace, version.Version())
		if err != nil {
			set = &applyset.Set{Name: cm.Name, Namespace: cm.Namespace}
		}
		sets, errs = append(sets, set), append(errs, err)
	}
	return sets, errs, nil
}

// ListSets lists the sync sets of the kubeconfig's namespace, or of every
// namespace the user can list ConfigMaps in when allNamespaces, sorted by
// namespace and name. Nothing is fetched from git.
func (s *Session) ListSets(ctx context.Context, allNamespaces bool) ([]SetSummary, error) {
	if err := s.Connect(); err != nil {
		return nil, err
	}
	lister, ok := s.cluster.(setLister)
	if !ok {
		return nil, fmt.Errorf("listing sync sets: this cluster cannot list them")
	}
	namespace := s.namespace
	if allNamespaces {
		namespace = metav1.NamespaceAll
	}
	sets, errs, err := lister.listSets(ctx, namespace)
	if err != nil {
		where := "namespace " + s.namespace + " (-n)"
		if allNamespaces {
			where = "all namespaces (-A)"
		}
		return nil, fmt.Errorf("listing the sync sets (ConfigMaps labelled %s) in %s: %w", applyset.LabelID, where, err)
	}
	out := make([]SetSummary, len(sets))
	for i, set := range sets {
		out[i] = summarize(set)
		if i < len(errs) && errs[i] != nil {
			out[i].Error = errs[i].Error()
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// GetSet is ListSets for the one set the options name; a set that does not
// exist is an error that names those that do.
func (s *Session) GetSet(ctx context.Context) (*SetSummary, error) {
	if err := s.opts.RequireName(); err != nil {
		return nil, err
	}
	set, err := s.existingSet(ctx)
	if err != nil {
		return nil, err
	}
	sum := summarize(set)
	return &sum, nil
}

// summarize is a set's line: its source without credentials.
func summarize(set *applyset.Set) SetSummary {
	r := set.Record
	src := r.Source
	src.Repo = source.Redact(src.Repo)
	sum := SetSummary{
		Name:      set.Name,
		Namespace: set.Namespace,
		Source:    src,
		Revision:  r.LastSyncedRevision,
		LastRun:   lastRun(r),
		Suspended: suspension(r),
	}
	if sum.LastRun != nil {
		sum.LastRun.Message = "" // a run's message may quote a URL; status shows it
		sum.LastRunTime = r.History[0].Started.Add(r.History[0].Duration)
	}
	return sum
}

// suspension is the one place get reads whether a set is suspended.
func suspension(r applyset.Record) *applyset.Suspension { return r.Suspended }
