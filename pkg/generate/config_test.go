package generate

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestParse(t *testing.T) {
	cfg, err := Parse("deploy/.gitops.yaml", []byte(`# How deploy/ is made.
apiVersion: kubectl-gitops.dev/v1alpha1
kind: Generators
includeFiles: true
generators:
  - name: templates
    command: [gitops-envsubst, --vars, vars.env]
  - name: labels
    timeout: 5s
    function:
      exec: [gitops-add-labels]
      config:
        apiVersion: plugins.kubectl-gitops.dev/v1alpha1
        kind: AddLabels
        labels: {team: web}
updaters:
  - name: vars
    setImage: [gitops-envsubst, set-image]
    timeout: 2m
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "deploy/.gitops.yaml" || !cfg.IncludeFiles || len(cfg.Generators) != 2 || len(cfg.Updaters) != 1 {
		t.Fatalf("config: %+v", cfg)
	}
	tmpl, labels := cfg.Generators[0], cfg.Generators[1]
	if tmpl.Name != "templates" || tmpl.Line != 6 || strings.Join(tmpl.Command, " ") != "gitops-envsubst --vars vars.env" || tmpl.Timeout != DefaultTimeout || tmpl.Function != nil {
		t.Errorf("templates: %+v", tmpl)
	}
	if labels.Function == nil || labels.Function.Exec[0] != "gitops-add-labels" || labels.Timeout != 5*time.Second || labels.Command != nil {
		t.Fatalf("labels: %+v", labels)
	}
	if labels.Function.Config.GetKind() != "AddLabels" {
		t.Errorf("function config: %s", labels.Function.Config.MustString())
	}
	if u := cfg.Updaters[0]; u.Name != "vars" || u.Timeout != 2*time.Minute || len(u.SetImage) != 2 || u.SetPolicy != nil {
		t.Errorf("updater: %+v", u)
	}
	if !cfg.CanSetImage() || cfg.CanSetPolicy() {
		t.Error("CanSetImage/CanSetPolicy")
	}
	if got := cfg.What(labels); got != `function "labels" (deploy/.gitops.yaml:8)` {
		t.Errorf("What: %s", got)
	}
}

func TestParseErrors(t *testing.T) {
	const head = "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Generators\n"
	tests := []struct {
		name string
		data string
		// want lists parts of the error, in order.
		want []string
	}{
		{"empty", "", []string{"c/.gitops.yaml: the file is empty"}},
		{"not YAML", "generators: [", []string{"c/.gitops.yaml: yaml:"}},
		{"two documents", head + "generators: [{name: a, command: [a]}]\n---\nfoo: bar\n", []string{":4: the file holds more than one YAML document"}},
		{"not a mapping", "- a\n", []string{":1: the config must be a mapping, not a list"}},
		{"no apiVersion", "kind: Generators\ngenerators: [{name: a, command: [a]}]\n", []string{":1: apiVersion is missing: want kubectl-gitops.dev/v1alpha1"}},
		{"other apiVersion", "apiVersion: v2\nkind: Generators\ngenerators: [{name: a, command: [a]}]\n", []string{`:1: apiVersion "v2" is not supported`}},
		{"other kind", "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Flux\ngenerators: [{name: a, command: [a]}]\n", []string{`:2: kind "Flux" is not supported: want Generators`}},
		{"unknown top-level field", head + "version: 1\ngenerators: [{name: a, command: [a]}]\n", []string{`:3: unknown field "version" in the config; known fields: apiVersion, kind, includeFiles, generators, updaters`}},
		{"the repository cannot allow itself", head + "allowGenerators: true\ngenerators: [{name: a, command: [a]}]\n", []string{`:3: unknown field "allowGenerators"`}},
		{"unknown generator field", head + "generators:\n  - name: a\n    command: [a]\n    env: [X=1]\n", []string{`:6: unknown field "env" in a generator; known fields: name, command, function, timeout`}},
		{"field twice", head + "generators:\n  - name: a\n    name: b\n    command: [a]\n", []string{`:5: field "name" is given twice (also at line 4)`}},
		{"command is a shell line", head + "generators:\n  - name: a\n    command: gen --all\n", []string{`:5: command must be a list of arguments`, `not run through a shell (write [sh, -c, "gen --all"] for one)`}},
		{"empty command", head + "generators:\n  - name: a\n    command: []\n", []string{`:5: command is empty`}},
		{"command and function", head + "generators:\n  - name: a\n    command: [a]\n    function: {exec: [b]}\n", []string{`:4: generator "a" has both command and function`}},
		{"neither", head + "generators:\n  - name: a\n", []string{`:4: generator "a" has neither command`}},
		{"function without exec", head + "includeFiles: true\ngenerators:\n  - name: a\n    function: {config: {kind: X}}\n", []string{`:6: function has no exec`}},
		{"function config not a mapping", head + "includeFiles: true\ngenerators:\n  - name: a\n    function: {exec: [f], config: [x]}\n", []string{`:6: function config must be a mapping`}},
		{"bad timeout", head + "generators:\n  - name: a\n    command: [a]\n    timeout: 10\n", []string{`:6: timeout "10" is not a positive duration`}},
		{"no name", head + "generators:\n  - command: [a]\n", []string{`:4: the generator has no name`}},
		{"bad name", head + "generators:\n  - name: My Gen\n    command: [a]\n", []string{`:4: generator name "My Gen" is not valid`}},
		{"duplicate name", head + "generators:\n  - name: a\n    command: [a]\nupdaters:\n  - name: a\n    setImage: [u]\n", []string{`:7: the name "a" is already used at line 4`}},
		{"updater without commands", head + "generators: [{name: a, command: [a]}]\nupdaters:\n  - name: u\n", []string{`:5: updater "u" has neither setImage nor setPolicy`}},
		{"includeFiles not a bool", head + "includeFiles: yes\ngenerators: [{name: a, command: [a]}]\n", []string{`:3: includeFiles must be true or false, not "yes"`}},
		{"no generators", head + "generators: []\n", []string{`:1: no generators are declared`}},
		{"only functions, nothing to transform", head + "generators: [{name: f, function: {exec: [f]}}]\n", []string{`only KRM functions are declared and includeFiles is false`}},
		{"every problem at once", head + "foo: 1\ngenerators:\n  - name: a\n    command: x\n  - name: a\n    command: [b]\n", []string{`:3: unknown field "foo"`, `:6: command must be a list`, `:7: the name "a" is already used at line 5`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c/.gitops.yaml", []byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error lacks %q (in order):\n%s", w, msg)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestLoadFindsTheNearestConfig(t *testing.T) {
	cfg := func(name string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Generators\ngenerators: [{name: " + name + ", command: [x]}]\n")}
	}
	fsys := fstest.MapFS{
		".gitops.yaml":            cfg("top"),
		"apps/web/.gitops.yaml":   cfg("web"),
		"apps/web/deep/x.yaml":    {Data: []byte("x")},
		"apps/api/deploy.yaml":    {Data: []byte("x")},
		"other/.gitops.yaml/keep": {Data: []byte("a directory named like the config")},
	}
	for dir, want := range map[string]string{".": "top", "apps": "top", "apps/api": "top", "apps/web": "web", "apps/web/deep": "web"} {
		c, err := Load(fsys, dir)
		if err != nil || c == nil || c.Generators[0].Name != want {
			t.Errorf("Load(%s) = %+v, %v; want %s", dir, c, err, want)
		}
	}
	if _, err := Load(fsys, "other"); err == nil || !strings.Contains(err.Error(), "other/.gitops.yaml") {
		t.Errorf("a directory named .gitops.yaml: %v", err)
	}
	// A config that is a symbolic link out of the tree is not silently
	// missing (MapFS, like a commit's tree, cannot follow it).
	escaping := fstest.MapFS{"a/.gitops.yaml": {Data: []byte("../../outside.yaml"), Mode: fs.ModeSymlink}}
	if _, err := Load(escaping, "a"); err == nil || !strings.Contains(err.Error(), "a symbolic link must stay inside the repository") {
		t.Errorf("a link out of the tree: %v", err)
	}
	if c, err := Load(fstest.MapFS{"a/b.yaml": {Data: []byte("x")}}, "a"); c != nil || err != nil {
		t.Errorf("no config: %+v, %v", c, err)
	}
	if _, err := Load(fsys, "../x"); err == nil {
		t.Error("a path outside the tree was accepted")
	}
}

func TestNotAllowedErrorNamesWhatWouldRun(t *testing.T) {
	cfg, err := Parse("deploy/.gitops.yaml", []byte(`apiVersion: kubectl-gitops.dev/v1alpha1
kind: Generators
generators:
  - name: templates
    command: [sh, -c, "gen --all > out"]
  - name: labels
    function: {exec: [gitops-add-labels]}
`))
	if err != nil {
		t.Fatal(err)
	}
	var e error = &NotAllowedError{Config: cfg}
	if !errors.Is(e, ErrNotAllowed) {
		t.Error("not ErrNotAllowed")
	}
	for _, want := range []string{
		"deploy/.gitops.yaml declares generators",
		`generator "templates" (deploy/.gitops.yaml:4) runs sh -c 'gen --all > out'`,
		`function "labels" (deploy/.gitops.yaml:6) runs gitops-add-labels`,
		"--allow-generators", "KUBECTL_GITOPS_ALLOW_GENERATORS=1",
	} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, e)
		}
	}
}

// The config is decoded strictly into the schema of its apiVersion: each
// problem is one error, naming the file and the line it is on, at any
// depth, and a wrong apiVersion or kind says which are supported.
func TestParseStrictErrorsKeepTheirLines(t *testing.T) {
	const file = "deploy/.gitops.yaml"
	const head = "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Generators\n"
	tests := []struct {
		name string
		data string
		// want is the whole error, one problem a line.
		want string
	}{
		{"unknown top-level field", head + "includeFiles: true\ngeneratorz: []\ngenerators: [{name: a, command: [a]}]\n",
			`deploy/.gitops.yaml:4: unknown field "generatorz" in the config; known fields: apiVersion, kind, includeFiles, generators, updaters`},
		{"unknown field in a generator", head + "generators:\n  - name: a\n    command: [a]\n  - name: b\n    command: [b]\n    enviroment: {X: 1}\n",
			`deploy/.gitops.yaml:8: unknown field "enviroment" in a generator; known fields: name, command, function, timeout`},
		{"unknown field in a function", head + "includeFiles: true\ngenerators:\n  - name: f\n    function:\n      exec: [f]\n      configs: {kind: X}\n",
			`deploy/.gitops.yaml:8: unknown field "configs" in function; known fields: exec, config`},
		{"unknown field in an updater", head + "generators: [{name: a, command: [a]}]\nupdaters:\n  - name: u\n    setImage: [u]\n    setImages: [v]\n",
			`deploy/.gitops.yaml:7: unknown field "setImages" in an updater; known fields: name, setImage, setPolicy, timeout`},
		{"unknown fields at every depth, in line order", head + "x: 1\ngenerators:\n  - name: a\n    command: [a]\n    y: 2\nupdaters:\n  - name: u\n    setPolicy: [p]\n    z: 3\n",
			"deploy/.gitops.yaml:3: unknown field \"x\" in the config; known fields: apiVersion, kind, includeFiles, generators, updaters\n" +
				"deploy/.gitops.yaml:7: unknown field \"y\" in a generator; known fields: name, command, function, timeout\n" +
				"deploy/.gitops.yaml:11: unknown field \"z\" in an updater; known fields: name, setImage, setPolicy, timeout"},
		{"an unknown field and a bad value", head + "generators:\n  - name: a\n    command: a\n    shell: true\n",
			"deploy/.gitops.yaml:5: command must be a list of arguments, like [gitops-envsubst, --vars, vars.env]; it is not run through a shell (write [sh, -c, \"a\"] for one)\n" +
				`deploy/.gitops.yaml:6: unknown field "shell" in a generator; known fields: name, command, function, timeout`},
		{"a field twice in an updater", head + "generators: [{name: a, command: [a]}]\nupdaters:\n  - name: u\n    setImage: [u]\n    setImage: [v]\n",
			`deploy/.gitops.yaml:7: field "setImage" is given twice (also at line 6)`},
		{"a field twice through a merge key", head + "generators:\n  - &g {name: a, command: [a]}\n  - <<: *g\n    name: b\n    name: c\n",
			`deploy/.gitops.yaml:7: field "name" is given twice (also at line 6)`},
		{"generators not a list", head + "generators: {name: a}\n",
			`deploy/.gitops.yaml:3: generators must be a list, not a mapping`},
		{"updaters not a list", head + "generators: [{name: a, command: [a]}]\nupdaters: u\n",
			`deploy/.gitops.yaml:4: updaters must be a list, not "u"`},
		{"generators of the wrong kinds", head + "generators:\n  - name: a\n    command: [a]\n  - b\n  - ~\n  - [c]\n",
			"deploy/.gitops.yaml:6: a generator must be a mapping, not \"b\"\n" +
				"deploy/.gitops.yaml:7: a generator must be a mapping, not null\n" +
				"deploy/.gitops.yaml:8: a generator must be a mapping, not a list"},
		{"function not a mapping", head + "generators:\n  - name: a\n    function: [f]\n",
			`deploy/.gitops.yaml:5: function must be a mapping, not a list`},
		{"a key that is not a string", head + "[a]: b\ngenerators: [{name: a, command: [a]}]\n",
			`deploy/.gitops.yaml:3: a field name must be a string, not a list`},
		{"an argument that is not a string", head + "generators:\n  - name: a\n    command:\n      - a\n      - {b: c}\n",
			`deploy/.gitops.yaml:7: command: each argument must be a string, not a mapping`},
		{"a later apiVersion", "# generated\napiVersion: kubectl-gitops.dev/v1alpha2\nkind: Generators\nversion: 2\n",
			`deploy/.gitops.yaml:2: apiVersion "kubectl-gitops.dev/v1alpha2" is not supported: want kubectl-gitops.dev/v1alpha1`},
		{"apiVersion not a string", "apiVersion: [v1]\nkind: Generators\n",
			`deploy/.gitops.yaml:1: apiVersion must be a string, not a list: want kubectl-gitops.dev/v1alpha1`},
		{"kind not a string", "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: {name: Generators}\ngenerators: [{name: a, command: [a]}]\n",
			`deploy/.gitops.yaml:2: kind must be a string, not a mapping: want Generators`},
		{"Flux v1's file", "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Flux\ngenerators: [{name: a, command: [a]}]\n",
			`deploy/.gitops.yaml:2: kind "Flux" is not supported: want Generators`},
		{"kind missing", "apiVersion: kubectl-gitops.dev/v1alpha1\n\ngenerators: [{name: a, command: [a]}]\n",
			`deploy/.gitops.yaml:1: kind is missing: want Generators`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(file, []byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != file || ce.Line == 0 {
				t.Errorf("not a *ConfigError with a line: %#v", err)
			}
		})
	}
}

// Anchors and aliases decode as the values they stand for, and a function
// config is kept whole, whatever fields it has.
func TestParseAliasesAndFunctionConfig(t *testing.T) {
	cfg, err := Parse("c/.gitops.yaml", []byte(`apiVersion: kubectl-gitops.dev/v1alpha1
kind: Generators
includeFiles: true
generators:
  - name: a
    command: &argv [gen, --all]
    timeout: &t 5s
  - name: f
    function:
      exec: *argv
      config: &c {apiVersion: x/v1, kind: Anything, whatever: {deep: [1]}}
updaters:
  - name: u
    setPolicy: *argv
    timeout: *t
`))
	if err != nil {
		t.Fatal(err)
	}
	g, f, u := cfg.Generators[0], cfg.Generators[1], cfg.Updaters[0]
	if strings.Join(g.Command, " ") != "gen --all" || g.Timeout != 5*time.Second || g.Line != 5 {
		t.Errorf("generator: %+v", g)
	}
	if strings.Join(f.Function.Exec, " ") != "gen --all" || f.Function.Config.GetKind() != "Anything" || f.Line != 8 {
		t.Errorf("function: %+v", f.Function)
	}
	if strings.Join(u.SetPolicy, " ") != "gen --all" || u.Timeout != 5*time.Second || u.Line != 13 {
		t.Errorf("updater: %+v", u)
	}
}
