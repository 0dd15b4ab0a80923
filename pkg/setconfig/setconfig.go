// Package setconfig reads a sync set's own config from the repository: the
// file .gitops-set.yaml at the set's path (only there, not in a parent),
// read from the synced commit, never from a work tree:
//
//	apiVersion: kubectl-gitops.dev/v1alpha1
//	kind: SyncSet
//	dependsOn: [database, platform/ingress]   # NAME or NAMESPACE/NAME
//	healthChecks:                             # see pkg/health
//	  - apiVersion: example.com/v1
//	    kind: Database
//	    current: status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')
//	    failed: status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')
//
// The file is repository content, so untrusted: it is decoded strictly
// (unknown fields are errors with their line), its size, its dependencies,
// its rules and each expression are bounded, and the rules compile here,
// so that a rule that does not compile stops a sync before any write.
// Evaluating a rule is bounded by pkg/health's CEL cost limit.
package setconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

const (
	// FileName is the set config's name, at the set's path.
	FileName = ".gitops-set.yaml"
	// APIVersion and Kind are what the file must declare.
	APIVersion = "kubectl-gitops.dev/v1alpha1"
	Kind       = "SyncSet"
)

// Bounds of a set config: it comes from the repository.
const (
	// MaxFileSize bounds the file.
	MaxFileSize = 64 << 10
	// MaxDependsOn is the most dependencies (the set's record keeps as
	// many, applyset.MaxDependsOn).
	MaxDependsOn = 32
	// MaxHealthChecks is the most health rules.
	MaxHealthChecks = 100
	// MaxExpression bounds each CEL expression, in bytes.
	MaxExpression = 2048
)

// Config is a parsed, validated and compiled set config.
type Config struct {
	// File is the config's slash path from the repository's root.
	File string
	// DependsOn lists the sets this one depends on, as written ("name" or
	// "namespace/name"), each checked as a set name. HasDependsOn says the
	// file gives dependsOn at all: an empty list then means none, while
	// a file without it leaves the dependencies to the flag or the record.
	DependsOn    []Dependency
	HasDependsOn bool
	// HealthChecks are the rules, each with its Origin (file:line).
	HealthChecks []health.Rule
	// Checker holds the compiled rules.
	Checker *health.Checker
}

// Dependency is one entry of dependsOn and its line.
type Dependency struct {
	Set  string
	Line int
}

// Where is "file:line" of a dependency.
func (c *Config) Where(d Dependency) string { return fmt.Sprintf("%s:%d", c.File, d.Line) }

// Names returns the dependencies as written; nil when the file does not
// give dependsOn, empty when it gives an empty list.
func (c *Config) Names() []string {
	if c == nil || !c.HasDependsOn {
		return nil
	}
	out := make([]string, 0, len(c.DependsOn))
	for _, d := range c.DependsOn {
		out = append(out, d.Set)
	}
	return out
}

// Rules returns the health rules; none for a nil config.
func (c *Config) Rules() []health.Rule {
	if c == nil {
		return nil
	}
	return c.HealthChecks
}

// Load reads the set config at dir (a slash path inside fsys, "." for the
// root). It returns nil when there is none: parents are not looked at. A
// file that does not parse, validate or compile is an error naming the
// file and line of each problem.
func Load(fsys fs.FS, dir string) (*Config, error) {
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("invalid path %q: want a slash-separated path inside the tree, like \"apps/web\" or \".\"", dir)
	}
	file := path.Join(dir, FileName)
	info, err := fs.Stat(fsys, file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, lerr := fs.Lstat(fsys, file); lerr == nil {
			return nil, fmt.Errorf("reading %s: %w (a symbolic link must stay inside the repository)", file, err)
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w (a symbolic link must stay inside the repository)", file, err)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a file: the set config must be a YAML file", file)
	case info.Size() > MaxFileSize:
		return nil, fmt.Errorf("%s has %d bytes, more than the %d KiB a set config may have", file, info.Size(), MaxFileSize>>10)
	}
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return Parse(file, data)
}

// Parse parses, validates and compiles the set config file (its slash path
// from the repository's root) holding data.
func Parse(file string, data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s has %d bytes, more than the %d KiB a set config may have", file, len(data), MaxFileSize>>10)
	}
	if err := yamlguard.Check(file, data); err != nil {
		return nil, err
	}
	p := &parser{file: file}
	cfg := p.parse(data)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	checker, err := health.Compile(cfg.HealthChecks)
	if err != nil {
		return nil, err
	}
	cfg.Checker = checker
	return cfg, nil
}

type parser struct {
	file string
	errs []error
}

func (p *parser) fail(line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.file, line, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s", p.file, msg))
}

// fields are the known fields of a SyncSet, in order.
var fields = []string{"apiVersion", "kind", "dependsOn", "healthChecks"}

func (p *parser) parse(data []byte) *Config {
	cfg := &Config{File: p.file}
	root, err := yamlguard.OneDocument(data)
	var second *yamlguard.DocumentError
	switch {
	case errors.Is(err, yamlguard.ErrEmpty):
		p.fail(0, "the file is empty: want apiVersion: %s and kind: %s", APIVersion, Kind)
		return cfg
	case errors.As(err, &second):
		p.fail(second.Line, "%v", err)
		return cfg
	case err != nil:
		p.fail(0, "%v", err)
		return cfg
	}
	if root.Kind != yamlv3.MappingNode {
		p.fail(root.Line, "the set config must be a mapping, not %s", yamlguard.Describe(root))
		return cfg
	}
	seen := map[string]int{}
	values := map[string]*yamlv3.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yamlv3.ScalarNode || !known(k.Value) {
			p.fail(k.Line, "unknown field %q in the set config; known fields: %s", k.Value, strings.Join(fields, ", "))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			p.fail(k.Line, "field %q is given twice (also at line %d)", k.Value, line)
			continue
		}
		if v.Kind == yamlv3.AliasNode {
			v = v.Alias
		}
		seen[k.Value], values[k.Value] = k.Line, v
	}
	p.scalar(values["apiVersion"], root.Line, "apiVersion", APIVersion)
	p.scalar(values["kind"], root.Line, "kind", Kind)
	if n := values["dependsOn"]; n != nil {
		cfg.DependsOn, cfg.HasDependsOn = p.dependsOn(n), true
	}
	if n := values["healthChecks"]; n != nil {
		cfg.HealthChecks = p.healthChecks(n)
	}
	return cfg
}

func known(key string) bool {
	for _, f := range fields {
		if f == key {
			return true
		}
	}
	return false
}

// scalar checks that n, the value of a required field, is want.
func (p *parser) scalar(n *yamlv3.Node, rootLine int, field, want string) {
	switch {
	case n == nil:
		p.fail(rootLine, "%s is missing: want %s", field, want)
	case n.Kind != yamlv3.ScalarNode:
		p.fail(n.Line, "%s must be a string, not %s: want %s", field, yamlguard.Describe(n), want)
	case n.Value != want:
		p.fail(n.Line, "%s %q is not supported: want %s", field, n.Value, want)
	}
}

func (p *parser) dependsOn(n *yamlv3.Node) []Dependency {
	if n.ShortTag() == "!!null" {
		return []Dependency{}
	}
	if n.Kind != yamlv3.SequenceNode {
		p.fail(n.Line, "dependsOn must be a list of sync sets (NAME or NAMESPACE/NAME), not %s", yamlguard.Describe(n))
		return nil
	}
	if len(n.Content) > MaxDependsOn {
		p.fail(n.Line, "dependsOn names %d sync sets: at most %d are allowed", len(n.Content), MaxDependsOn)
		return nil
	}
	out := []Dependency{}
	seen := map[string]int{}
	for _, item := range n.Content {
		if item.Kind == yamlv3.AliasNode {
			item = item.Alias
		}
		if item.Kind != yamlv3.ScalarNode || item.ShortTag() == "!!null" {
			p.fail(item.Line, "dependsOn: each entry must be a sync set's name (NAME or NAMESPACE/NAME), not %s", yamlguard.Describe(item))
			continue
		}
		if err := checkSetName(item.Value); err != nil {
			p.fail(item.Line, "dependsOn: %v", err)
			continue
		}
		if line, dup := seen[item.Value]; dup {
			p.fail(item.Line, "dependsOn: %q is named twice (also at line %d)", item.Value, line)
			continue
		}
		seen[item.Value] = item.Line
		out = append(out, Dependency{Set: item.Value, Line: item.Line})
	}
	return out
}

// checkSetName checks "name" or "namespace/name".
func checkSetName(s string) error {
	ns, name, found := strings.Cut(s, "/")
	if !found {
		name = s
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid sync set name: %s", name, strings.Join(errs, "; "))
	}
	if found {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("%q is not a valid namespace: %s", ns, strings.Join(errs, "; "))
		}
	}
	return nil
}

func (p *parser) healthChecks(n *yamlv3.Node) []health.Rule {
	if n.Kind == yamlv3.SequenceNode && len(n.Content) > MaxHealthChecks {
		p.fail(n.Line, "healthChecks holds %d rules: at most %d are allowed", len(n.Content), MaxHealthChecks)
		return nil
	}
	rules, err := health.FromNode(p.file, n)
	if err != nil {
		p.errs = append(p.errs, err)
		return nil
	}
	for _, r := range rules {
		for _, e := range []struct{ name, expr string }{{"current", r.Current}, {"failed", r.Failed}, {"inProgress", r.InProgress}} {
			if len(e.expr) > MaxExpression {
				p.errs = append(p.errs, fmt.Errorf("%s: health rule for %s %s: %s has %d bytes, more than the %d allowed", r.Origin, r.APIVersion, r.Kind, e.name, len(e.expr), MaxExpression))
			}
		}
	}
	return rules
}
