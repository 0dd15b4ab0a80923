package generate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// Config is a parsed and validated .gitops.yaml:
//
//	apiVersion: kubectl-gitops.dev/v1alpha1
//	kind: Generators
//	includeFiles: false        # also render the plain manifests under the path
//	generators:                # run in this order, each seeing what came before
//	  - name: templates
//	    command: [gitops-envsubst, --vars, vars.env]   # stdout is manifests
//	    timeout: 30s
//	  - name: labels
//	    function:              # a KRM function: transforms everything so far
//	      exec: [gitops-add-labels]
//	      config: {apiVersion: ..., kind: ..., ...}    # its functionConfig
//	updaters:                  # edit the generators' inputs when an image moves
//	  - name: vars
//	    setImage: [gitops-envsubst, set-image, --vars, vars.env]
//	    setPolicy: [...]
//
// Commands are argument lists, not shell lines: write [sh, -c, "..."] for a
// shell.
type Config struct {
	// File is the config's slash path from the repository's root, such as
	// "deploy/.gitops.yaml".
	File string
	// IncludeFiles renders the plain manifest files (and kustomizations)
	// under the path first, as without a config. By default, as with Flux
	// v1's .flux.yaml, the generators' output replaces them.
	IncludeFiles bool
	Generators   []Generator
	Updaters     []Updater
}

// Generator is one step of the pipeline: a command or a KRM function.
type Generator struct {
	Name string
	// Line is where the generator is declared in the config.
	Line int
	// Command, when set, is run and its standard output read as
	// manifests, appended to what came before.
	Command []string
	// Function, when set, is a KRM function given everything rendered
	// before it, and whose output replaces it.
	Function *Function
	Timeout  time.Duration
}

// Function is a KRM function run as a program.
type Function struct {
	Exec []string
	// Config is the ResourceList's functionConfig; nil when not given.
	Config *yaml.RNode
}

// Updater edits the inputs of the generators when an image or a policy of
// a generated workload changes.
type Updater struct {
	Name      string
	Line      int
	SetImage  []string
	SetPolicy []string
	Timeout   time.Duration
}

// What names a generator in messages: `generator "templates"
// (deploy/.gitops.yaml:5)`.
func (c *Config) What(g Generator) string {
	kind := "generator"
	if g.Function != nil {
		kind = "function"
	}
	return fmt.Sprintf("%s %q (%s:%d)", kind, g.Name, c.File, g.Line)
}

func (c *Config) whatUpdater(u Updater) string {
	return fmt.Sprintf("updater %q (%s:%d)", u.Name, c.File, u.Line)
}

// CanSetImage says whether an updater can move the images of generated
// workloads.
func (c *Config) CanSetImage() bool {
	return slices.ContainsFunc(c.Updaters, func(u Updater) bool { return len(u.SetImage) > 0 })
}

// CanSetPolicy says whether an updater can edit the policies of generated
// workloads.
func (c *Config) CanSetPolicy() bool {
	return slices.ContainsFunc(c.Updaters, func(u Updater) bool { return len(u.SetPolicy) > 0 })
}

// argv returns the program and arguments of a generator.
func (g Generator) argv() []string {
	if g.Function != nil {
		return g.Function.Exec
	}
	return g.Command
}

// Load finds the config that applies to dir (a slash path inside fsys, "."
// for the root): dir's own .gitops.yaml, or the nearest parent's. It
// returns nil when there is none. A config that does not parse or validate
// is an error naming the file and line of each problem.
func Load(fsys fs.FS, dir string) (*Config, error) {
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("invalid path %q: want a slash-separated path inside the tree, like \"apps/web\" or \".\"", dir)
	}
	for d := dir; ; d = path.Dir(d) {
		file := path.Join(d, FileName)
		data, err := fs.ReadFile(fsys, file)
		switch {
		case err == nil:
			return Parse(file, data)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		if _, lerr := fs.Lstat(fsys, file); lerr == nil {
			// There, but not readable: a symbolic link out of the tree.
			return nil, fmt.Errorf("reading %s: %w (a symbolic link must stay inside the repository)", file, err)
		}
		if d == "." {
			return nil, nil
		}
	}
}

// Parse parses and validates the config file (its slash path from the
// repository's root) holding data. Unknown fields are errors.
func Parse(file string, data []byte) (*Config, error) {
	p := &parser{file: file}
	cfg := p.parse(data)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return cfg, nil
}

// ConfigError is a problem with a config file.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.File + ": " + e.Msg
}

type parser struct {
	file string
	errs []error
}

func (p *parser) fail(line int, format string, args ...any) {
	p.errs = append(p.errs, &ConfigError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) parse(data []byte) *Config {
	var bomb *yamlguard.Error
	if err := yamlguard.Check(p.file, data); errors.As(err, &bomb) {
		p.fail(bomb.Line, "%s", bomb.Msg)
		return nil
	}
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var doc yamlv3.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.fail(0, "the file is empty: want apiVersion: %s, kind: %s and generators", APIVersion, Kind)
		} else {
			p.fail(0, "%v", err)
		}
		return nil
	}
	var extra yamlv3.Node
	if err := dec.Decode(&extra); err == nil {
		p.fail(extra.Line, "the file holds more than one YAML document; put everything in one")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.fail(0, "%v", err)
		return nil
	}
	root := doc.Content[0]
	f := p.fields(root, "the config", "apiVersion", "kind", "includeFiles", "generators", "updaters")
	if f == nil {
		return nil
	}
	switch v := p.str(f["apiVersion"]); {
	case f["apiVersion"] == nil:
		p.fail(root.Line, "apiVersion is missing: want %s", APIVersion)
	case v != APIVersion:
		p.fail(f["apiVersion"].Line, "apiVersion %q is not supported: want %s", v, APIVersion)
	}
	switch v := p.str(f["kind"]); {
	case f["kind"] == nil:
		p.fail(root.Line, "kind is missing: want %s", Kind)
	case v != Kind:
		p.fail(f["kind"].Line, "kind %q is not supported: want %s", v, Kind)
	}
	cfg := &Config{File: p.file}
	if n := f["includeFiles"]; n != nil {
		cfg.IncludeFiles = p.bool(n, "includeFiles")
	}
	names := map[string]int{}
	named := func(n *yamlv3.Node, what string) string {
		name := p.str(n)
		switch {
		case n == nil:
			return ""
		case !validName.MatchString(name):
			p.fail(n.Line, "%s name %q is not valid: use lower-case letters, digits and '-', at most 63", what, name)
		case names[name] > 0:
			p.fail(n.Line, "the name %q is already used at line %d", name, names[name])
		default:
			names[name] = n.Line
		}
		return name
	}
	for _, n := range p.seq(f["generators"], "generators") {
		g := Generator{Line: n.Line, Timeout: DefaultTimeout}
		gf := p.fields(n, "a generator", "name", "command", "function", "timeout")
		if gf == nil {
			continue
		}
		if gf["name"] == nil {
			p.fail(n.Line, "the generator has no name")
		}
		g.Name = named(gf["name"], "generator")
		g.Timeout = p.timeout(gf["timeout"])
		switch {
		case gf["command"] != nil && gf["function"] != nil:
			p.fail(n.Line, "generator %q has both command and function: give one", g.Name)
		case gf["command"] != nil:
			g.Command = p.argv(gf["command"], "command")
		case gf["function"] != nil:
			g.Function = p.function(gf["function"])
		default:
			p.fail(n.Line, "generator %q has neither command (its stdout is manifests) nor function (a KRM function)", g.Name)
		}
		cfg.Generators = append(cfg.Generators, g)
	}
	for _, n := range p.seq(f["updaters"], "updaters") {
		u := Updater{Line: n.Line, Timeout: DefaultTimeout}
		uf := p.fields(n, "an updater", "name", "setImage", "setPolicy", "timeout")
		if uf == nil {
			continue
		}
		if uf["name"] == nil {
			p.fail(n.Line, "the updater has no name")
		}
		u.Name = named(uf["name"], "updater")
		u.Timeout = p.timeout(uf["timeout"])
		if uf["setImage"] != nil {
			u.SetImage = p.argv(uf["setImage"], "setImage")
		}
		if uf["setPolicy"] != nil {
			u.SetPolicy = p.argv(uf["setPolicy"], "setPolicy")
		}
		if uf["setImage"] == nil && uf["setPolicy"] == nil {
			p.fail(n.Line, "updater %q has neither setImage nor setPolicy", u.Name)
		}
		cfg.Updaters = append(cfg.Updaters, u)
	}
	if len(p.errs) > 0 {
		return cfg
	}
	if len(cfg.Generators) == 0 {
		p.fail(root.Line, "no generators are declared: list them under generators, or remove the file to read the plain manifests")
	} else if !cfg.IncludeFiles && !slices.ContainsFunc(cfg.Generators, func(g Generator) bool { return g.Function == nil }) {
		p.fail(root.Line, "only KRM functions are declared and includeFiles is false, so they would have nothing to transform: set includeFiles: true, or add a command")
	}
	return cfg
}

var validName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// fields returns the values of mapping n by key, reporting keys that are
// not known, given twice or not strings. It returns nil when n is not a
// mapping.
func (p *parser) fields(n *yamlv3.Node, what string, known ...string) map[string]*yamlv3.Node {
	if n.Kind != yamlv3.MappingNode {
		p.fail(n.Line, "%s must be a mapping, not %s", what, describe(n))
		return nil
	}
	out := map[string]*yamlv3.Node{}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yamlv3.AliasNode {
			v = v.Alias
		}
		switch {
		case k.Kind != yamlv3.ScalarNode:
			p.fail(k.Line, "%s has a key that is not a string", what)
		case seen[k.Value] > 0:
			p.fail(k.Line, "field %q is given twice (also at line %d)", k.Value, seen[k.Value])
		case !slices.Contains(known, k.Value):
			p.fail(k.Line, "unknown field %q in %s; known fields: %s", k.Value, what, strings.Join(known, ", "))
		default:
			seen[k.Value] = k.Line
			out[k.Value] = v
		}
	}
	return out
}

func (p *parser) str(n *yamlv3.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind != yamlv3.ScalarNode {
		p.fail(n.Line, "want a string, not %s", describe(n))
		return ""
	}
	return n.Value
}

func (p *parser) bool(n *yamlv3.Node, what string) bool {
	var b bool
	if n.Kind != yamlv3.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.fail(n.Line, "%s must be true or false, not %s", what, describe(n))
	}
	return b
}

func (p *parser) seq(n *yamlv3.Node, what string) []*yamlv3.Node {
	if n == nil {
		return nil
	}
	if n.Kind != yamlv3.SequenceNode {
		p.fail(n.Line, "%s must be a list, not %s", what, describe(n))
		return nil
	}
	return n.Content
}

func (p *parser) argv(n *yamlv3.Node, what string) []string {
	if n.Kind == yamlv3.ScalarNode {
		p.fail(n.Line, "%s must be a list of arguments, like [gitops-envsubst, --vars, vars.env]; it is not run through a shell (write [sh, -c, %q] for one)", what, n.Value)
		return nil
	}
	var out []string
	before := len(p.errs)
	for _, a := range p.seq(n, what) {
		if a.Kind != yamlv3.ScalarNode {
			p.fail(a.Line, "%s: each argument must be a string, not %s", what, describe(a))
			continue
		}
		out = append(out, a.Value)
	}
	if len(p.errs) == before && (len(out) == 0 || out[0] == "") {
		p.fail(n.Line, "%s is empty: give the program and its arguments", what)
	}
	return out
}

func (p *parser) timeout(n *yamlv3.Node) time.Duration {
	if n == nil {
		return DefaultTimeout
	}
	d, err := time.ParseDuration(p.str(n))
	if err != nil || d <= 0 {
		p.fail(n.Line, "timeout %q is not a positive duration like 30s or 5m", n.Value)
		return DefaultTimeout
	}
	return d
}

func (p *parser) function(n *yamlv3.Node) *Function {
	f := p.fields(n, "function", "exec", "config")
	if f == nil {
		return nil
	}
	fn := &Function{}
	if f["exec"] == nil {
		p.fail(n.Line, "function has no exec: give the program that runs it, like exec: [gitops-add-labels]")
	} else {
		fn.Exec = p.argv(f["exec"], "exec")
	}
	if c := f["config"]; c != nil {
		if c.Kind != yamlv3.MappingNode {
			p.fail(c.Line, "function config must be a mapping (the functionConfig object), not %s", describe(c))
		} else {
			fn.Config = yaml.NewRNode(c)
		}
	}
	return fn
}

func describe(n *yamlv3.Node) string {
	switch n.Kind {
	case yamlv3.MappingNode:
		return "a mapping"
	case yamlv3.SequenceNode:
		return "a list"
	case yamlv3.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// NotAllowedError is the error for a config whose programs the user did
// not allow to run. It matches ErrNotAllowed.
type NotAllowedError struct {
	Config *Config
}

// ErrNotAllowed is matched (errors.Is) by a NotAllowedError.
var ErrNotAllowed = errors.New("generators are not allowed to run")

func (e *NotAllowedError) Error() string {
	var runs []string
	for _, g := range e.Config.Generators {
		runs = append(runs, fmt.Sprintf("%s runs %s", e.Config.What(g), quoteArgs(g.argv())))
	}
	return fmt.Sprintf("%s declares generators, programs that would run on this machine: %s. Review it, then pass --allow-generators (or set KUBECTL_GITOPS_ALLOW_GENERATORS=1) to run them",
		e.Config.File, strings.Join(runs, "; "))
}

func (e *NotAllowedError) Is(target error) bool { return target == ErrNotAllowed }

// quoteArgs writes argv as a shell would need it.
func quoteArgs(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
