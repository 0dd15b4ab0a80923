package generate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"reflect"
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
// repository's root) holding data: it decodes it strictly into the schema
// of its apiVersion (see decoders), then checks the values. Unknown fields
// are errors. The error holds a *ConfigError for each problem, with its
// line, in the order of the lines.
func Parse(file string, data []byte) (*Config, error) {
	p := &parser{file: file}
	cfg := p.parse(data)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *ConfigError) int { return a.Line - b.Line })
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
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
	errs []*ConfigError
}

func (p *parser) fail(line int, format string, args ...any) {
	p.errs = append(p.errs, &ConfigError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// decoders holds the decoder of each apiVersion of the config: each
// decodes its own schema, strictly, and converts it to a Config. A new
// version adds its schema types and an entry here.
var decoders = map[string]func(p *parser, data []byte, root *yamlv3.Node) *Config{
	APIVersion: decodeV1alpha1,
}

// supported lists the apiVersions that decoders knows.
func supported() string {
	return strings.Join(slices.Sorted(maps.Keys(decoders)), " or ")
}

// parse checks data's cost (yamlguard), that it holds one YAML document
// that is a mapping, and its apiVersion, then hands it to the decoder of
// that version.
func (p *parser) parse(data []byte) *Config {
	var bomb *yamlguard.Error
	if err := yamlguard.Check(p.file, data); errors.As(err, &bomb) {
		p.fail(bomb.Line, "%s", bomb.Msg)
		return nil
	}
	root, err := yamlguard.OneDocument(data)
	var second *yamlguard.DocumentError
	switch {
	case errors.Is(err, yamlguard.ErrEmpty):
		p.fail(0, "the file is empty: want apiVersion: %s, kind: %s and generators", supported(), Kind)
		return nil
	case errors.As(err, &second):
		p.fail(second.Line, "%v", err)
		return nil
	case err != nil:
		p.fail(0, "%v", err)
		return nil
	}
	if root.Kind != yamlv3.MappingNode {
		p.fail(root.Line, "the config must be a mapping, not %s", yamlguard.Describe(root))
		return nil
	}
	version := lookup(root, "apiVersion")
	if version == nil {
		p.fail(root.Line, "apiVersion is missing: want %s", supported())
		return nil
	}
	decode, ok := decoders[version.Value]
	switch {
	case version.Kind != yamlv3.ScalarNode:
		p.fail(version.Line, "apiVersion must be a string, not %s: want %s", yamlguard.Describe(version), supported())
		return nil
	case !ok:
		p.fail(version.Line, "apiVersion %q is not supported: want %s", version.Value, supported())
		return nil
	}
	return decode(p, data, root)
}

// lookup returns the value of key in mapping m, nil when m has none.
func lookup(m *yamlv3.Node, key string) *yamlv3.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k, v := m.Content[i], m.Content[i+1]; k.Kind == yamlv3.ScalarNode && k.Value == key {
			if v.Kind == yamlv3.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

// decodeStrict decodes data into v, the schema of one apiVersion, with
// unknown fields and fields given twice as errors that keep their line.
// names says how errors name the types of the schema. It returns false
// when v could not be decoded at all.
func (p *parser) decodeStrict(data []byte, v any, names map[reflect.Type]string) bool {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	var te *yamlv3.TypeError
	switch {
	case err == nil:
		return true
	case errors.As(err, &te):
		// The value is decoded, but for the fields in te.
		for _, e := range te.Errors {
			p.decodeError(e, names)
		}
		return true
	}
	p.fail(0, "%v", err)
	return false
}

// The problems go.yaml.in/yaml/v3 reports in a TypeError, one a line.
var (
	unknownField  = regexp.MustCompile(`^line (\d+): field (.*) not found in type (\S+)$`)
	duplicateKey  = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
	fieldSetTwice = regexp.MustCompile(`^line (\d+): field (.*) already set in type (\S+)$`)
	wrongKind     = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	anyProblem    = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// decodeError reports one problem of a TypeError in the config's own
// words, naming the types of the schema as names does. The library has
// no structured form of these (its TypeError holds strings): a problem
// of another form keeps the library's words, still with its line.
func (p *parser) decodeError(e string, names map[reflect.Type]string) {
	typ := func(name string) (string, reflect.Type) {
		for t, what := range names {
			if t.String() == name {
				return what, t
			}
		}
		return name, nil
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if m := unknownField.FindStringSubmatch(e); m != nil {
		what, t := typ(m[3])
		p.fail(atoi(m[1]), "unknown field %q in %s; known fields: %s", m[2], what, strings.Join(fieldNames(t), ", "))
	} else if m := duplicateKey.FindStringSubmatch(e); m != nil {
		key, _ := strconv.Unquote(m[2])
		p.fail(atoi(m[1]), "field %q is given twice (also at line %s)", key, m[3])
	} else if m := fieldSetTwice.FindStringSubmatch(e); m != nil {
		p.fail(atoi(m[1]), "field %q is given twice", m[2])
	} else if m := wrongKind.FindStringSubmatch(e); m != nil {
		what, t := typ(m[4])
		want := "a mapping"
		switch {
		case t == nil && m[4] == "string":
			what, want = "a field name", "a string"
		case t != nil && t.Kind() == reflect.Slice:
			want = "a list"
		}
		got := map[string]string{"!!map": "a mapping", "!!seq": "a list"}[m[2]]
		if got == "" {
			got = strconv.Quote(m[3])
		}
		p.fail(atoi(m[1]), "%s must be %s, not %s", what, want, got)
	} else if m := anyProblem.FindStringSubmatch(e); m != nil {
		p.fail(atoi(m[1]), "%s", m[2])
	} else {
		p.fail(0, "%s", e)
	}
}

// fieldNames returns the fields of struct type t by their YAML names, in
// order; none for another type.
func fieldNames(t reflect.Type) []string {
	var out []string
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// leaf is a scalar or list of a schema, kept as its YAML node (nil when
// the field is absent or null): decoding never fails on it, and checking
// it says with its line what is wrong (see str, bool, argv, timeout).
type leaf struct{ n *yamlv3.Node }

func (l *leaf) UnmarshalYAML(n *yamlv3.Node) error {
	l.n = n
	return nil
}

// at, inlined in a struct of a schema, records the line of the mapping
// the struct is decoded from; 0 means the mapping was not decoded (the
// decoder reported why).
type at struct{ line int }

func (a *at) UnmarshalYAML(n *yamlv3.Node) error {
	a.line = n.Line
	return nil
}

// v1alpha1 is the schema of apiVersion kubectl-gitops.dev/v1alpha1.
type v1alpha1 struct {
	At           at                   `yaml:",inline"`
	APIVersion   leaf                 `yaml:"apiVersion"`
	Kind         leaf                 `yaml:"kind"`
	IncludeFiles leaf                 `yaml:"includeFiles"`
	Generators   []*v1alpha1Generator `yaml:"generators"`
	Updaters     []*v1alpha1Updater   `yaml:"updaters"`
}

type v1alpha1Generator struct {
	At       at                `yaml:",inline"`
	Name     leaf              `yaml:"name"`
	Command  leaf              `yaml:"command"`
	Function *v1alpha1Function `yaml:"function"`
	Timeout  leaf              `yaml:"timeout"`
}

type v1alpha1Function struct {
	At     at   `yaml:",inline"`
	Exec   leaf `yaml:"exec"`
	Config leaf `yaml:"config"`
}

type v1alpha1Updater struct {
	At        at   `yaml:",inline"`
	Name      leaf `yaml:"name"`
	SetImage  leaf `yaml:"setImage"`
	SetPolicy leaf `yaml:"setPolicy"`
	Timeout   leaf `yaml:"timeout"`
}

// v1alpha1Names names the types of the v1alpha1 schema in errors.
var v1alpha1Names = map[reflect.Type]string{
	reflect.TypeFor[v1alpha1]():             "the config",
	reflect.TypeFor[v1alpha1Generator]():    "a generator",
	reflect.TypeFor[[]*v1alpha1Generator](): "generators",
	reflect.TypeFor[v1alpha1Function]():     "function",
	reflect.TypeFor[v1alpha1Updater]():      "an updater",
	reflect.TypeFor[[]*v1alpha1Updater]():   "updaters",
}

func decodeV1alpha1(p *parser, data []byte, root *yamlv3.Node) *Config {
	var raw v1alpha1
	if !p.decodeStrict(data, &raw, v1alpha1Names) || raw.At.line == 0 {
		return nil
	}
	switch k := raw.Kind.n; {
	case k == nil:
		p.fail(raw.At.line, "kind is missing: want %s", Kind)
	case k.Kind != yamlv3.ScalarNode:
		p.fail(k.Line, "kind must be a string, not %s: want %s", yamlguard.Describe(k), Kind)
	case k.Value != Kind:
		p.fail(k.Line, "kind %q is not supported: want %s", k.Value, Kind)
	}
	cfg := &Config{File: p.file}
	if n := raw.IncludeFiles.n; n != nil {
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
	p.nullItems(root, "generators", "a generator")
	for _, g := range raw.Generators {
		if g == nil || g.At.line == 0 {
			continue // null, or not decoded: reported
		}
		gen := Generator{Line: g.At.line, Timeout: p.timeout(g.Timeout.n)}
		if g.Name.n == nil {
			p.fail(g.At.line, "the generator has no name")
		}
		gen.Name = named(g.Name.n, "generator")
		switch {
		case g.Command.n != nil && g.Function != nil:
			p.fail(g.At.line, "generator %q has both command and function: give one", gen.Name)
		case g.Command.n != nil:
			gen.Command = p.argv(g.Command.n, "command")
		case g.Function != nil:
			gen.Function = p.function(g.Function)
		default:
			p.fail(g.At.line, "generator %q has neither command (its stdout is manifests) nor function (a KRM function)", gen.Name)
		}
		cfg.Generators = append(cfg.Generators, gen)
	}
	p.nullItems(root, "updaters", "an updater")
	for _, u := range raw.Updaters {
		if u == nil || u.At.line == 0 {
			continue
		}
		up := Updater{Name: named(u.Name.n, "updater"), Line: u.At.line, Timeout: p.timeout(u.Timeout.n)}
		if u.Name.n == nil {
			p.fail(u.At.line, "the updater has no name")
		}
		if u.SetImage.n != nil {
			up.SetImage = p.argv(u.SetImage.n, "setImage")
		}
		if u.SetPolicy.n != nil {
			up.SetPolicy = p.argv(u.SetPolicy.n, "setPolicy")
		}
		if u.SetImage.n == nil && u.SetPolicy.n == nil {
			p.fail(u.At.line, "updater %q has neither setImage nor setPolicy", up.Name)
		}
		cfg.Updaters = append(cfg.Updaters, up)
	}
	if len(p.errs) > 0 {
		return cfg
	}
	if len(cfg.Generators) == 0 {
		p.fail(raw.At.line, "no generators are declared: list them under generators, or remove the file to read the plain manifests")
	} else if !cfg.IncludeFiles && !slices.ContainsFunc(cfg.Generators, func(g Generator) bool { return g.Function == nil }) {
		p.fail(raw.At.line, "only KRM functions are declared and includeFiles is false, so they would have nothing to transform: set includeFiles: true, or add a command")
	}
	return cfg
}

// nullItems reports the null items of the list under key in mapping m,
// which decode to nothing (items of the wrong kind are left out of the
// list by the decoder, which reports them).
func (p *parser) nullItems(m *yamlv3.Node, key, what string) {
	l := lookup(m, key)
	if l == nil || l.Kind != yamlv3.SequenceNode {
		return
	}
	for _, n := range l.Content {
		if n.Kind == yamlv3.AliasNode {
			n = n.Alias
		}
		if n.ShortTag() == "!!null" {
			p.fail(n.Line, "%s must be a mapping, not null", what)
		}
	}
}

var validName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (p *parser) function(f *v1alpha1Function) *Function {
	if f.At.line == 0 {
		return nil
	}
	fn := &Function{}
	if f.Exec.n == nil {
		p.fail(f.At.line, "function has no exec: give the program that runs it, like exec: [gitops-add-labels]")
	} else {
		fn.Exec = p.argv(f.Exec.n, "exec")
	}
	if c := f.Config.n; c != nil {
		if c.Kind != yamlv3.MappingNode {
			p.fail(c.Line, "function config must be a mapping (the functionConfig object), not %s", yamlguard.Describe(c))
		} else {
			fn.Config = yaml.NewRNode(c)
		}
	}
	return fn
}

func (p *parser) str(n *yamlv3.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind != yamlv3.ScalarNode {
		p.fail(n.Line, "want a string, not %s", yamlguard.Describe(n))
		return ""
	}
	return n.Value
}

func (p *parser) bool(n *yamlv3.Node, what string) bool {
	var b bool
	if n.Kind != yamlv3.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.fail(n.Line, "%s must be true or false, not %s", what, yamlguard.Describe(n))
	}
	return b
}

func (p *parser) seq(n *yamlv3.Node, what string) []*yamlv3.Node {
	if n == nil {
		return nil
	}
	if n.Kind != yamlv3.SequenceNode {
		p.fail(n.Line, "%s must be a list, not %s", what, yamlguard.Describe(n))
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
			p.fail(a.Line, "%s: each argument must be a string, not %s", what, yamlguard.Describe(a))
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
