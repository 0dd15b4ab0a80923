package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// Dependencies between sync sets: a set syncs only when each set it depends
// on synced successfully at its last run and its members are healthy (by
// the health rules its record keeps, kstatus for other kinds). The
// dependencies are named by --depends-on on sync and watch, else by
// dependsOn in the set config of the synced revision (.gitops-set.yaml),
// and kept in the set's record; a sync with neither follows the recorded
// ones.

// maxDependencyWalk bounds how many sets a cycle check reads.
const maxDependencyWalk = 64

// DependencyError says that a set the sync set depends on is not ready:
// nothing was synced.
type DependencyError struct {
	// Set is the sync set that waits, Dependency the one it waits for, as
	// named ("name" or "namespace/name").
	Set, Dependency string
	// Reason says what is not ready.
	Reason string
}

func (e *DependencyError) Error() string {
	return fmt.Sprintf("sync set %q depends on %q, which is not ready: %s. Nothing was synced: sync %s first and let it become healthy (or change the dependencies: dependsOn in the set's .gitops-set.yaml, or --depends-on)",
		e.Set, e.Dependency, e.Reason, e.Dependency)
}

// CycleError says that the dependencies of a set lead back to it.
type CycleError struct {
	// Path is the cycle, from the set back to itself.
	Path []string
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("the dependencies of sync set %q form a cycle, %s (as given and as recorded in the sets' parents): nothing was synced. Break it with --depends-on on one of them (--depends-on '' for none)",
		e.Path[0], strings.Join(e.Path, " -> "))
}

// depRef is a dependency: a set in a namespace.
type depRef struct{ namespace, name string }

// String is "name" for a set in namespace, else "namespace/name".
func (d depRef) in(namespace string) string {
	if d.namespace == namespace {
		return d.name
	}
	return d.namespace + "/" + d.name
}

func (d depRef) key() string { return d.namespace + "/" + d.name }

// parseDependency reads "name" or "namespace/name"; a name without
// namespace is in namespace.
func parseDependency(s, namespace string) (depRef, error) {
	ns, name, found := strings.Cut(s, "/")
	if !found {
		ns, name = namespace, s
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return depRef{}, fmt.Errorf("--depends-on %q: %q is not a valid sync set name: %s", s, name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return depRef{}, fmt.Errorf("--depends-on %q: %q is not a valid namespace: %s", s, ns, strings.Join(errs, "; "))
	}
	return depRef{namespace: ns, name: name}, nil
}

// CheckDependency checks that s names a sync set: "name" or
// "namespace/name".
func CheckDependency(s string) error {
	_, err := parseDependency(s, "default")
	return err
}

// NormalizeDependencies checks the dependencies the operator named for the
// set name in namespace and returns them as the record keeps them: sorted,
// without repeats or empty names, "name" for a set in the same namespace.
// An empty list (--depends-on "") means none.
func NormalizeDependencies(deps []string, name, namespace string) ([]string, error) {
	out := []string{}
	for _, d := range deps {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		ref, err := parseDependency(d, namespace)
		if err != nil {
			return nil, err
		}
		if ref.namespace == namespace && ref.name == name {
			return nil, fmt.Errorf("--depends-on %q: sync set %q cannot depend on itself", d, name)
		}
		if s := ref.in(namespace); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) > applyset.MaxDependsOn {
		return nil, fmt.Errorf("--depends-on names %d sync sets: at most %d are allowed", len(out), applyset.MaxDependsOn)
	}
	slices.Sort(out)
	return out, nil
}

// recordedDependencies reads a record's dependencies, skipping what does
// not parse: the record is read from the cluster.
func recordedDependencies(set *applyset.Set) []depRef {
	var out []depRef
	for _, d := range set.Record.DependsOn {
		if ref, err := parseDependency(d, set.Namespace); err == nil {
			out = append(out, ref)
		}
		if len(out) == applyset.MaxDependsOn {
			break
		}
	}
	return out
}

// checkDependencies fails unless every dependency of set is ready: deps
// (normalized, for set's namespace) are its dependencies. First the
// dependencies are followed through the records of the sets they name, to
// find a cycle back to set; then each dependency must exist, its last run
// must have succeeded, and each of its members must be healthy.
func (s *Session) checkDependencies(ctx context.Context, set *applyset.Set, deps []string) error {
	if len(deps) == 0 {
		return nil
	}
	refs := make([]depRef, 0, len(deps))
	for _, d := range deps {
		ref, err := parseDependency(d, set.Namespace)
		if err != nil {
			return err
		}
		refs = append(refs, ref)
	}
	loaded := map[string]*applyset.Set{}
	load := func(ref depRef) (*applyset.Set, error) {
		if dep, ok := loaded[ref.key()]; ok {
			return dep, nil
		}
		dep, err := s.cluster.loadSet(ctx, ref.name, ref.namespace)
		if err != nil {
			return nil, fmt.Errorf("reading dependency %q of sync set %q: %w", ref.in(set.Namespace), set.Name, err)
		}
		loaded[ref.key()] = dep
		return dep, nil
	}
	self := depRef{namespace: set.Namespace, name: set.Name}
	if err := findCycle(self, refs, load); err != nil {
		return err
	}
	for _, ref := range refs {
		dep, err := load(ref)
		if err != nil {
			return err
		}
		if why, err := s.notReady(ctx, dep); err != nil {
			return fmt.Errorf("reading the members of dependency %q of sync set %q: %w", ref.in(set.Namespace), set.Name, err)
		} else if why != "" {
			return &DependencyError{Set: set.Name, Dependency: ref.in(set.Namespace), Reason: why}
		}
	}
	return nil
}

// findCycle follows the dependencies from self, depth first, through the
// sets' records, and returns a *CycleError when they lead back to self. It
// reads at most maxDependencyWalk sets.
func findCycle(self depRef, refs []depRef, load func(depRef) (*applyset.Set, error)) error {
	visited := map[string]bool{}
	var visit func(ref depRef, path []string) error
	visit = func(ref depRef, path []string) error {
		path = append(path, ref.in(self.namespace))
		if ref == self {
			return &CycleError{Path: path}
		}
		if visited[ref.key()] || len(visited) >= maxDependencyWalk {
			return nil
		}
		visited[ref.key()] = true
		dep, err := load(ref)
		if err != nil {
			return err
		}
		if !dep.Exists {
			return nil
		}
		for _, next := range recordedDependencies(dep) {
			if err := visit(next, slices.Clip(path)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, ref := range refs {
		if err := visit(ref, []string{self.name}); err != nil {
			return err
		}
	}
	return nil
}

// notReady says why dep is not ready, "" when it is.
func (s *Session) notReady(ctx context.Context, dep *applyset.Set) (string, error) {
	where := fmt.Sprintf("configmap %s/%s", dep.Namespace, dep.Name)
	if !dep.Exists {
		return fmt.Sprintf("it has never been synced (no %s)", where), nil
	}
	r := dep.Record
	if len(r.History) == 0 {
		return fmt.Sprintf("it has no recorded sync (%s)", where), nil
	}
	last := r.History[0]
	if last.Outcome != applyset.OutcomeSucceeded || last.Revision != r.LastSyncedRevision {
		why := fmt.Sprintf("its last sync, of revision %s at %s, %s", short(last.Revision), last.Started.UTC().Format("2006-01-02T15:04:05Z"), strings.ToLower(last.Outcome))
		if last.Message != "" {
			why += ": " + last.Message
		}
		return why, nil
	}
	members, err := s.cluster.members(ctx, dep)
	if err != nil {
		return "", err
	}
	var bad []string
	for _, m := range members {
		if !m.Health.Ready() {
			b := fmt.Sprintf("%s is %s", m.Object, m.Health.Status)
			if m.Health.Message != "" {
				b += " (" + m.Health.Message + ")"
			}
			bad = append(bad, b)
		}
	}
	if len(bad) == 0 {
		return "", nil
	}
	more := ""
	if len(bad) > 3 {
		bad, more = bad[:3], fmt.Sprintf(" and %d more", len(bad)-3)
	}
	return fmt.Sprintf("synced at revision %s, but not healthy: %s%s", short(r.LastSyncedRevision), strings.Join(bad, ", "), more), nil
}

// IsHeld says whether err says that a set is held still rather than
// failed: it is suspended, a dependency is not ready, or its dependencies
// form a cycle. watch reports it and looks again at its next interval.
func IsHeld(err error) bool {
	var (
		suspended *SuspendedError
		dep       *DependencyError
		cycle     *CycleError
	)
	return errors.As(err, &suspended) || errors.As(err, &dep) || errors.As(err, &cycle)
}
