// Package health computes the readiness of objects of any kind from rules
// written in CEL, as Flux v2's Kustomization healthCheckExprs do: per
// apiVersion and kind, a current, a failed and an inProgress expression.
// Kinds without a rule are left to kstatus (sigs.k8s.io/cli-utils), which
// is what Status does for them.
package health

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Rule says when objects of one kind are healthy. Each expression sees the
// object as self, and its top-level fields (apiVersion, kind, metadata,
// spec, status) as variables of those names, so that Flux v2's expressions
// ("status.conditions.exists(...)") work unchanged. Current is required;
// Failed and InProgress are optional.
type Rule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Current    string `json:"current"`
	Failed     string `json:"failed,omitempty"`
	InProgress string `json:"inProgress,omitempty"`
	// Origin is where the rule is written ("file:line"), for errors.
	Origin string `json:"-"`
}

// GroupVersionKind is the kind the rule is for.
func (r Rule) GroupVersionKind() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(r.APIVersion, r.Kind)
}

// CostLimit bounds what one evaluation of an expression may cost, in
// cel-go's cost units (about one per operation and per element a
// comprehension visits): the limit the Kubernetes API server sets per
// CRD validation rule. Rules come from repositories and the sets' records,
// and the objects from the cluster: a rule that would go past it, such as
// a comprehension nested over a long list, stops with an error and does
// not hold.
const CostLimit = 1_000_000

// variables are the names an expression can use besides self.
var variables = []string{"apiVersion", "kind", "metadata", "spec", "status"}

// Checker holds compiled rules. The zero value and nil have no rules.
type Checker struct {
	rules map[schema.GroupVersionKind]*compiled
}

type compiled struct {
	rule                        Rule
	current, failed, inProgress cel.Program
}

// Compile checks and compiles rules. Every rule that does not compile, or
// that repeats a kind, is named in the error with its origin.
func Compile(rules []Rule) (*Checker, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("setting up CEL: %w", err)
	}
	c := &Checker{rules: map[schema.GroupVersionKind]*compiled{}}
	var errs []error
	for _, r := range rules {
		cr, err := compile(env, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: health rule for %s %s: %w", origin(r), r.APIVersion, r.Kind, err))
			continue
		}
		gvk := r.GroupVersionKind()
		if first, dup := c.rules[gvk]; dup {
			errs = append(errs, fmt.Errorf("%s: health rule for %s %s: the kind already has a rule at %s: keep one of them", origin(r), r.APIVersion, r.Kind, origin(first.rule)))
			continue
		}
		c.rules[gvk] = cr
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func origin(r Rule) string {
	if r.Origin == "" {
		return "health rules"
	}
	return r.Origin
}

func newEnv() (*cel.Env, error) {
	opts := []cel.EnvOption{cel.Variable("self", cel.DynType), cel.OptionalTypes()}
	for _, v := range variables {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	return cel.NewEnv(opts...)
}

func compile(env *cel.Env, r Rule) (*compiled, error) {
	if r.APIVersion == "" || r.Kind == "" {
		return nil, errors.New("apiVersion and kind are required")
	}
	if strings.TrimSpace(r.Current) == "" {
		return nil, errors.New("current is required: the expression that says the object is ready")
	}
	cr := &compiled{rule: r}
	for _, e := range []struct {
		name string
		expr string
		prog *cel.Program
	}{
		{"current", r.Current, &cr.current},
		{"failed", r.Failed, &cr.failed},
		{"inProgress", r.InProgress, &cr.inProgress},
	} {
		if strings.TrimSpace(e.expr) == "" {
			continue
		}
		ast, iss := env.Compile(e.expr)
		if iss.Err() != nil {
			return nil, fmt.Errorf("%s %q does not compile: %w", e.name, e.expr, iss.Err())
		}
		if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
			return nil, fmt.Errorf("%s %q gives a %s, not a bool", e.name, e.expr, t)
		}
		prog, err := env.Program(ast, cel.CostLimit(CostLimit))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", e.name, e.expr, err)
		}
		*e.prog = prog
	}
	return cr, nil
}

// Has says whether a rule covers the kind of obj.
func (c *Checker) Has(obj *unstructured.Unstructured) bool {
	if c == nil {
		return false
	}
	_, ok := c.rules[obj.GroupVersionKind()]
	return ok
}

// Len is the number of rules.
func (c *Checker) Len() int {
	if c == nil {
		return 0
	}
	return len(c.rules)
}

// Status computes the readiness of obj: by its kind's rule when there is
// one (Evaluate), by kstatus otherwise.
func (c *Checker) Status(obj *unstructured.Unstructured) (*status.Result, error) {
	if c.Has(obj) {
		return c.Evaluate(obj)
	}
	return status.Compute(obj)
}

// Evaluate computes the readiness of obj by its kind's rule, in Flux v2's
// order: an object whose status.observedGeneration is behind
// metadata.generation is InProgress; then inProgress true is InProgress,
// failed true is Failed, current true is Current; when none holds, the
// object is InProgress. An expression that reads a field the object does
// not have (yet) does not hold; the message says which. It fails when no
// rule covers the kind.
func (c *Checker) Evaluate(obj *unstructured.Unstructured) (*status.Result, error) {
	if c == nil {
		return nil, fmt.Errorf("no health rule for %s", obj.GroupVersionKind())
	}
	cr, ok := c.rules[obj.GroupVersionKind()]
	if !ok {
		return nil, fmt.Errorf("no health rule for %s", obj.GroupVersionKind())
	}
	rule := fmt.Sprintf("health rule of %s (%s)", cr.rule.Kind, origin(cr.rule))
	if observed, ok := observedGeneration(obj); ok && observed != obj.GetGeneration() {
		return &status.Result{Status: status.InProgressStatus, Message: fmt.Sprintf("%s: generation %d not observed yet (status.observedGeneration %d)", rule, obj.GetGeneration(), observed)}, nil
	}
	vars := map[string]any{"self": obj.Object}
	for _, v := range variables {
		if val, ok := obj.Object[v]; ok {
			vars[v] = val
		} else {
			vars[v] = map[string]any{}
		}
	}
	var notes []string
	holds := func(name string, prog cel.Program) bool {
		if prog == nil {
			return false
		}
		out, _, err := prog.Eval(vars)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", name, err))
			return false
		}
		b, ok := out.Value().(bool)
		if !ok {
			notes = append(notes, fmt.Sprintf("%s gave %v, not a bool", name, out.Value()))
			return false
		}
		return b
	}
	switch {
	case holds("inProgress", cr.inProgress):
		return &status.Result{Status: status.InProgressStatus, Message: fmt.Sprintf("%s: inProgress %q holds", rule, cr.rule.InProgress)}, nil
	case holds("failed", cr.failed):
		return &status.Result{Status: status.FailedStatus, Message: fmt.Sprintf("%s: failed %q holds", rule, cr.rule.Failed)}, nil
	case holds("current", cr.current):
		return &status.Result{Status: status.CurrentStatus, Message: fmt.Sprintf("%s: current %q holds", rule, cr.rule.Current)}, nil
	}
	msg := fmt.Sprintf("%s: current %q does not hold yet", rule, cr.rule.Current)
	if len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	return &status.Result{Status: status.InProgressStatus, Message: msg}, nil
}

// observedGeneration reads status.observedGeneration, a number however it
// was decoded.
func observedGeneration(obj *unstructured.Unstructured) (int64, bool) {
	v, found, err := unstructured.NestedFieldNoCopy(obj.Object, "status", "observedGeneration")
	if err != nil || !found {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}
