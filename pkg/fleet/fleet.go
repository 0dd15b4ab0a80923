// Package fleet reads a fleet file: the clusters (targets) that one
// repository is synced to, each with its own kubeconfig context or file,
// sync set, path and variables for post-build substitution
// (pkg/substitute):
//
//	apiVersion: kubectl-gitops.dev/v1alpha1
//	kind: Fleet
//	repo: https://git.example.com/org/config.git   # default for every target
//	ref: main                                      # default for every target
//	targets:
//	  - name: eu-prod
//	    context: eu-prod          # or kubeconfig: /path/to/file
//	    namespace: gitops         # optional: the set's namespace
//	    set: web
//	    path: apps/web
//	    variables: {REGION: eu, REPLICAS: "3"}
//
// The file is decoded strictly: unknown fields, a second document, a
// missing or duplicate name are errors naming file:line.
package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

const (
	APIVersion = "kubectl-gitops.dev/v1alpha1"
	Kind       = "Fleet"
	// MaxFileSize bounds a fleet file.
	MaxFileSize = 1 << 20
	// MaxTargets bounds the targets of one fleet.
	MaxTargets = 1000
)

// Fleet is a parsed, validated fleet file.
type Fleet struct {
	File    string
	Repo    string
	Ref     string
	Targets []Target
}

// Target is one cluster of the fleet.
type Target struct {
	Name       string
	Context    string
	Kubeconfig string
	Namespace  string
	Set        string
	Path       string
	Repo       string // the fleet's repo unless given
	Ref        string // the fleet's ref unless given
	Variables  map[string]string
	// Line is the target's line in the file.
	Line int
}

// VariablesKey is a canonical form of the variables, to group targets that
// render the same objects.
func (t Target) VariablesKey() string {
	keys := make([]string, 0, len(t.Variables))
	for k := range t.Variables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q;", k, t.Variables[k])
	}
	return b.String()
}

type file struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Repo       string       `yaml:"repo"`
	Ref        string       `yaml:"ref"`
	Targets    []targetYAML `yaml:"targets"`
}

type targetYAML struct {
	Name       string            `yaml:"name"`
	Context    string            `yaml:"context"`
	Kubeconfig string            `yaml:"kubeconfig"`
	Namespace  string            `yaml:"namespace"`
	Set        string            `yaml:"set"`
	Path       string            `yaml:"path"`
	Repo       string            `yaml:"repo"`
	Ref        string            `yaml:"ref"`
	Variables  map[string]string `yaml:"variables"`
}

// variableName is what ${NAME} accepts (pkg/substitute).
var variableName = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)

// Load reads and parses the fleet file at name.
func Load(name string) (*Fleet, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading the fleet file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the fleet file %s: %w", name, err)
	}
	return Parse(name, data)
}

var lineOf = regexp.MustCompile(`^line (\d+): `)

// Parse parses and validates a fleet file named name holding data.
func Parse(name string, data []byte) (*Fleet, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: more than the %d KiB a fleet file may have", name, MaxFileSize>>10)
	}
	if err := yamlguard.Check(name, data); err != nil {
		return nil, err
	}
	var raw file
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty: want apiVersion: %s and kind: %s", name, APIVersion, Kind)
		}
		return nil, yamlError(name, err)
	}
	var extra yamlv3.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: the file holds more than one YAML document; put everything in one", name, extra.Line)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	lines := targetLines(&doc)

	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	if raw.APIVersion != APIVersion || raw.Kind != Kind {
		fail(1, "want apiVersion: %s and kind: %s, not %q and %q", APIVersion, Kind, raw.APIVersion, raw.Kind)
	}
	if len(raw.Targets) == 0 {
		fail(1, "the fleet has no targets: list them under targets:")
	}
	if len(raw.Targets) > MaxTargets {
		fail(1, "%d targets, more than the %d a fleet may have", len(raw.Targets), MaxTargets)
	}
	fl := &Fleet{File: name, Repo: raw.Repo, Ref: raw.Ref}
	seen := map[string]int{}
	for i, t := range raw.Targets {
		line := 1
		if i < len(lines) {
			line = lines[i]
		}
		switch {
		case t.Name == "":
			fail(line, "target %d has no name", i+1)
		case len(validation.IsDNS1123Label(t.Name)) > 0:
			fail(line, "target name %q: %s", t.Name, strings.Join(validation.IsDNS1123Label(t.Name), "; "))
		case seen[t.Name] > 0:
			fail(line, "target %q is listed twice (first at line %d): names must be unique", t.Name, seen[t.Name])
		default:
			seen[t.Name] = line
		}
		if (t.Context == "") == (t.Kubeconfig == "") {
			fail(line, "target %q: give one of context (a context of the kubeconfig) or kubeconfig (a file)", t.Name)
		}
		if t.Set == "" {
			fail(line, "target %q has no set: name the sync set (its parent ConfigMap)", t.Name)
		} else if errs := validation.IsDNS1123Subdomain(t.Set); len(errs) > 0 {
			fail(line, "target %q: set %q is not a valid ConfigMap name: %s", t.Name, t.Set, strings.Join(errs, "; "))
		}
		if t.Namespace != "" {
			if errs := validation.IsDNS1123Label(t.Namespace); len(errs) > 0 {
				fail(line, "target %q: namespace %q: %s", t.Name, t.Namespace, strings.Join(errs, "; "))
			}
		}
		for k := range t.Variables {
			if !variableName.MatchString(k) {
				fail(line, "target %q: variable name %q: want letters, digits and _, not starting with a digit", t.Name, k)
			}
		}
		tg := Target{Name: t.Name, Context: t.Context, Kubeconfig: t.Kubeconfig, Namespace: t.Namespace,
			Set: t.Set, Path: t.Path, Repo: t.Repo, Ref: t.Ref, Variables: t.Variables, Line: line}
		if tg.Repo == "" {
			tg.Repo = raw.Repo
		}
		if tg.Ref == "" {
			tg.Ref = raw.Ref
		}
		if tg.Repo == "" {
			fail(line, "target %q has no repo, and the fleet gives none: set repo at the top or in the target", t.Name)
		}
		fl.Targets = append(fl.Targets, tg)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return fl, nil
}

// Select returns the targets named, in the file's order; all for none. A
// name that is not in the file is an error.
func (f *Fleet) Select(names []string) ([]Target, error) {
	if len(names) == 0 {
		return f.Targets, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Target
	for _, t := range f.Targets {
		if want[t.Name] {
			out = append(out, t)
			delete(want, t.Name)
		}
	}
	if len(want) > 0 {
		var missing []string
		for n := range want {
			missing = append(missing, n)
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("--target %s: not in the fleet file %s (its targets: %s)", strings.Join(missing, ", "), f.File, strings.Join(f.Names(), ", "))
	}
	return out, nil
}

// Names lists the targets' names.
func (f *Fleet) Names() []string {
	out := make([]string, 0, len(f.Targets))
	for _, t := range f.Targets {
		out = append(out, t.Name)
	}
	return out
}

func yamlError(name string, err error) error {
	var te *yamlv3.TypeError
	if errors.As(err, &te) {
		var errs []error
		for _, e := range te.Errors {
			if m := lineOf.FindStringSubmatch(e); m != nil {
				errs = append(errs, fmt.Errorf("%s:%s: %s", name, m[1], strings.TrimPrefix(e, m[0])))
			} else {
				errs = append(errs, fmt.Errorf("%s: %s", name, e))
			}
		}
		return errors.Join(errs...)
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineOf.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", name, m[1], strings.TrimPrefix(msg, m[0]))
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// targetLines returns the line of each item of targets.
func targetLines(doc *yamlv3.Node) []int {
	if doc == nil || len(doc.Content) == 0 || doc.Content[0].Kind != yamlv3.MappingNode {
		return nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "targets" {
			var out []int
			for _, item := range root.Content[i+1].Content {
				out = append(out, item.Line)
			}
			return out
		}
	}
	return nil
}
