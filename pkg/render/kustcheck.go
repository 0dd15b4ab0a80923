package render

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// Why the kustomizations are checked here rather than by kustomize:
// krusty.Kustomizer.Run makes its own loader, with no option to replace
// its git cloner (which runs the system git with the URL's ?ref= as an
// argument) or its HTTP client (which fetches any http(s) URL of a
// resource, patch or generator file), and neither goes through the
// filesys.FileSystem it is given. So before kustomize runs, every
// kustomization it would load is read, and every path that kustomize would
// load is refused when it is remote or absolute: a kustomization may load
// only files of the commit. Remote bases are refused always; there is no
// option to allow them.

// kustChecker walks the kustomizations reachable from one, through the
// same file system kustomize will read.
type kustChecker struct {
	fsys commitFS
	seen map[string]bool
	errs []error
}

// checkKustomizations checks the kustomization in dir and those it loads.
func checkKustomizations(fsys commitFS, dir string) []error {
	c := &kustChecker{fsys: fsys, seen: map[string]bool{}}
	c.dir(dir)
	return c.errs
}

func (c *kustChecker) fail(file string, err error) {
	c.errs = append(c.errs, &Error{Origin: Origin{File: file}, Err: err})
}

// dir checks the kustomization in dir (a slash path of the commit, "."
// for the root). A directory without exactly one kustomization file is
// left to kustomize, which names the problem.
func (c *kustChecker) dir(dir string) {
	dir = c.fsys.name(dir)
	if c.seen[dir] {
		return
	}
	c.seen[dir] = true
	var file string
	for _, k := range konfig.RecognizedKustomizationFileNames() {
		p := path.Join(dir, k)
		if c.fsys.Exists(p) && !c.fsys.IsDir(p) {
			if file != "" {
				return
			}
			file = p
		}
	}
	if file == "" {
		return
	}
	data, err := c.fsys.ReadFile(file)
	if err != nil {
		var e *yamlguard.Error
		if errors.As(err, &e) {
			c.errs = append(c.errs, &Error{Origin: Origin{File: e.File, Line: e.Line}, Err: errors.New(e.Msg)})
			return
		}
		c.fail(file, err)
		return
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return // kustomize reports it, with the same words
	}
	resources, bases := k.Resources, k.Bases //nolint:staticcheck // kustomize still loads the deprecated fields
	k.FixKustomization()

	ref := func(field, s string) bool { return c.ref(file, field, s, s) }
	dirs := func(field string, entries []string) {
		for _, s := range entries {
			if ref(field, s) {
				if p := path.Join(dir, filepath.ToSlash(s)); c.fsys.IsDir(p) {
					c.dir(p)
				}
			}
		}
	}
	dirs("resources", resources)
	dirs("bases", bases)
	dirs("components", k.Components)
	for _, s := range k.Crds {
		ref("crds", s)
	}
	for _, s := range k.Configurations {
		ref("configurations", s)
	}
	for _, p := range k.Patches {
		if p.Path != "" {
			ref("patches", p.Path)
		}
		c.inlineYAML(file, "patches", p.Patch)
	}
	for _, p := range k.PatchesJson6902 { //nolint:staticcheck // kustomize still loads the deprecated fields
		if p.Path != "" {
			ref("patchesJson6902", p.Path)
		}
		c.inlineYAML(file, "patchesJson6902", p.Patch)
	}
	for _, p := range k.PatchesStrategicMerge { //nolint:staticcheck // kustomize still loads the deprecated fields
		// kustomize takes an entry it cannot load as a file as inline.
		if s := string(p); c.inlineYAML(file, "patchesStrategicMerge", s) && !inline(s) {
			ref("patchesStrategicMerge", s)
		}
	}
	for _, r := range k.Replacements {
		if r.Path != "" {
			ref("replacements", r.Path)
		}
	}
	if p, ok := k.OpenAPI["path"]; ok {
		ref("openapi", p)
	}
	for _, g := range k.ConfigMapGenerator {
		c.generatorArgs(file, "configMapGenerator", g.GeneratorArgs)
	}
	for _, g := range k.SecretGenerator {
		c.generatorArgs(file, "secretGenerator", g.GeneratorArgs)
	}
	if len(k.HelmCharts) > 0 || k.HelmGlobals != nil {
		c.fail(file, errors.New("helmCharts are not rendered (they run the helm program): write a HelmRelease for the chart instead, which kubectl gitops renders"))
	}
	for _, f := range []struct {
		name    string
		entries []string
	}{{"generators", k.Generators}, {"transformers", k.Transformers}, {"validators", k.Validators}} {
		for _, s := range f.entries {
			c.plugin(file, dir, f.name, s)
		}
	}
}

// inlineYAML checks YAML written as a string in the kustomization file,
// which kustomize parses, with yamlguard.Check.
func (c *kustChecker) inlineYAML(file, field, s string) bool {
	err := yamlguard.Check(file, []byte(s))
	var e *yamlguard.Error
	if errors.As(err, &e) {
		c.fail(file, fmt.Errorf("inline YAML of %s, its line %d: %s", field, e.Line, e.Msg))
		return false
	}
	return true
}

// generatorArgs checks the files of a configMapGenerator or
// secretGenerator: "key=path" or "path", and env files.
func (c *kustChecker) generatorArgs(file, field string, g types.GeneratorArgs) {
	for _, s := range g.FileSources {
		c.source(file, field+" files", s)
	}
	for _, s := range g.EnvSources {
		c.ref(file, field+" envs", s, s)
	}
	if g.EnvSource != "" {
		c.ref(file, field+" env", g.EnvSource, g.EnvSource)
	}
}

// source refuses a file source, "key=path" or "path", whose path is
// remote or absolute.
func (c *kustChecker) source(file, field, s string) {
	p := s
	if _, rest, found := strings.Cut(s, "="); found && remote(s) == "" {
		p = rest
	}
	c.ref(file, field, s, p)
}

// ref refuses the path p, from the entry s of field, when it is remote or
// absolute, and says whether it is fine.
func (c *kustChecker) ref(file, field, s, p string) bool {
	if why := remote(p); why != "" {
		c.fail(file, fmt.Errorf("%s entry %q is %s: a kustomization may load only files of the commit being synced; copy what it needs into the repository", field, s, why))
		return false
	}
	return true
}

// plugin checks an entry of generators, transformers or validators: an
// inline plugin configuration, or the path of a file holding some.
// kustomize loads the paths these configurations name (a patch, a
// generator's files) as it loads a kustomization's own. A directory is
// refused: kustomize would build it and take its output as the
// configurations, which cannot be checked before kustomize loads them.
func (c *kustChecker) plugin(file, dir, field, s string) {
	// kustomize takes an entry that parses as resources as inline
	// configurations, and any other as a path.
	if !c.inlineYAML(file, field, s) {
		return
	}
	c.pluginConfig(file, field, []byte(s))
	if inline(s) {
		return
	}
	if !c.ref(file, field, s, s) {
		return
	}
	p := path.Join(dir, filepath.ToSlash(s))
	if c.fsys.IsDir(p) {
		c.fail(file, fmt.Errorf("%s entry %q is a directory: list the plugin configuration files themselves, so that the paths they load can be checked", field, s))
		return
	}
	data, err := c.fsys.ReadFile(p)
	if err != nil {
		return // kustomize reports it
	}
	c.pluginConfig(file, field+" file "+s, data)
}

// pathKeys are the keys under which kustomize's built-in plugins take the
// paths of files to load.
var pathKeys = map[string]bool{
	"path": true, "paths": true, "files": true, "envs": true, "env": true,
	"targetFilePath": true, "valuesFile": true, "additionalValuesFiles": true,
	"chartHome": true, "configHome": true, "argsFromFile": true,
}

// pluginConfig refuses remote or absolute paths anywhere under pathKeys in
// the plugin configurations in data, and the Helm chart generator.
func (c *kustChecker) pluginConfig(file, where string, data []byte) {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	for {
		var doc yamlv3.Node
		if err := dec.Decode(&doc); err != nil {
			return // at the end, or kustomize reports what does not parse
		}
		c.pluginNode(file, where, &doc, false)
	}
}

func (c *kustChecker) pluginNode(file, where string, n *yamlv3.Node, paths bool) {
	switch n.Kind {
	case yamlv3.ScalarNode:
		if !paths {
			return
		}
		c.source(file, where, n.Value)
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "kind" && v.Value == "HelmChartInflationGenerator" {
				c.fail(file, fmt.Errorf("%s: HelmChartInflationGenerator is not run (it runs the helm program): write a HelmRelease for the chart instead, which kubectl gitops renders", where))
			}
			c.pluginNode(file, where, v, pathKeys[k.Value])
		}
	default:
		for _, child := range n.Content {
			c.pluginNode(file, where, child, paths)
		}
	}
}

// inline says whether an entry that may be a path or inline YAML cannot
// be a path: several lines, or a flow collection.
func inline(s string) bool {
	t := strings.TrimSpace(s)
	return strings.Contains(s, "\n") || strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")
}

var (
	// scheme matches a URL scheme, which kustomize takes as a remote file
	// (http, https) or repository (ssh, https, http, file).
	scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// user matches the user of an scp-style git URL, user@host:path,
	// which kustomize takes as a remote repository.
	user = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*@`)
)

// remote says why kustomize would load the path p from outside the commit,
// or returns "". It takes as remote every form kustomize's repository
// spec parser accepts (a scheme, go-getter's "git::", an scp-style user,
// "github.com/"), and any other URL scheme.
func remote(p string) string {
	lower := strings.ToLower(p)
	switch {
	case strings.HasPrefix(lower, "git::"), strings.HasPrefix(lower, "github.com/"), strings.HasPrefix(lower, "github.com:"),
		strings.HasPrefix(lower, "gh:"), user.MatchString(p):
		return "a remote git repository"
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		return "a URL"
	case scheme.MatchString(p):
		return "a URL"
	case strings.HasPrefix(p, "/"), strings.HasPrefix(p, `\`), filepath.IsAbs(p):
		return "an absolute path"
	case strings.Contains(p, "://"):
		return "a URL"
	}
	return ""
}
