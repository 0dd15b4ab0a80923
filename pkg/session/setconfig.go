package session

import (
	"fmt"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setconfig"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// The set's own config in the repository (pkg/setconfig): .gitops-set.yaml
// at the set's path, read from the commit with the manifests. Its health
// rules are what sync --wait judges the kinds they name by, and they are
// kept in the set's record, so that status and the sets that depend on
// this one judge its members by the rules of the run that applied them,
// without opening the source (which status never fetches, and which may
// not be confirmed on the machine that asks). Its dependsOn are the set's
// dependencies when --depends-on is not given.

// readSetConfig loads the set config of the commit at the source's path;
// nil when there is none. A config that does not parse, validate or
// compile is the revision's own fault: a *RevisionError that Bad says is.
func readSetConfig(snap *source.Snapshot, src applyset.Source) (*setconfig.Config, error) {
	cfg, err := setconfig.Load(snap.FS, dir(src))
	if err != nil {
		return nil, &RevisionError{Revision: snap.Revision, Repo: src.Repo, Err: fmt.Errorf("%w; nothing was written: fix the set config", err), bad: true}
	}
	return cfg, nil
}

// recordHealthChecks is what the record keeps of a config's rules.
func recordHealthChecks(cfg *setconfig.Config) []applyset.HealthCheck {
	var out []applyset.HealthCheck
	for _, r := range cfg.Rules() {
		out = append(out, applyset.HealthCheck{APIVersion: r.APIVersion, Kind: r.Kind, Current: r.Current, Failed: r.Failed, InProgress: r.InProgress, Origin: r.Origin})
	}
	return out
}

// recordedChecker compiles the health rules a set's record keeps; nil
// when it keeps none. The record is read from the cluster, so the rules
// are bounded as a config's are; one that does not compile (a record
// edited by hand) is an error, and the caller falls back to kstatus.
//
// Rules from the record add no power to whoever can write it: the parent
// already says which kinds and namespaces the members are listed in, and
// evaluating a rule is bounded by health.CostLimit and reaches nothing
// outside the object.
func recordedChecker(set *applyset.Set) (*health.Checker, error) {
	hc := set.Record.HealthChecks
	if len(hc) == 0 {
		return nil, nil
	}
	if len(hc) > setconfig.MaxHealthChecks {
		return nil, fmt.Errorf("the record of sync set %q keeps %d health rules, more than the %d allowed", set.Name, len(hc), setconfig.MaxHealthChecks)
	}
	rules := make([]health.Rule, 0, len(hc))
	for _, c := range hc {
		for _, e := range []string{c.Current, c.Failed, c.InProgress} {
			if len(e) > setconfig.MaxExpression {
				return nil, fmt.Errorf("the record of sync set %q keeps a health rule for %s %s with an expression of %d bytes, more than the %d allowed", set.Name, c.APIVersion, c.Kind, len(e), setconfig.MaxExpression)
			}
		}
		origin := c.Origin
		if origin != "" {
			origin = "recorded from " + origin
		}
		rules = append(rules, health.Rule{APIVersion: c.APIVersion, Kind: c.Kind, Current: c.Current, Failed: c.Failed, InProgress: c.InProgress, Origin: origin})
	}
	checker, err := health.Compile(rules)
	if err != nil {
		return nil, fmt.Errorf("the health rules in the record of sync set %q: %w", set.Name, err)
	}
	return checker, nil
}

// repoDependencies returns the dependencies the set config declares, for
// SyncRequest.DependsOn: nil when it declares none (the recorded ones
// apply), empty for dependsOn: []. A set naming itself is an error at its
// line.
func repoDependencies(cfg *setconfig.Config, set *applyset.Set) ([]string, error) {
	if cfg == nil || !cfg.HasDependsOn {
		return nil, nil
	}
	out := []string{}
	for _, d := range cfg.DependsOn {
		ref, err := parseDependency(d.Set, set.Namespace)
		if err != nil {
			return nil, fmt.Errorf("%s: dependsOn: %w", cfg.Where(d), err)
		}
		if ref.namespace == set.Namespace && ref.name == set.Name {
			return nil, fmt.Errorf("%s: dependsOn: sync set %q cannot depend on itself", cfg.Where(d), set.Name)
		}
		out = append(out, d.Set)
	}
	return out, nil
}
