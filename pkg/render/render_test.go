package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// file makes a MapFS file from lines, so that line numbers in the tests can
// be read off the source.
func file(lines ...string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(strings.Join(lines, "\n") + "\n")}
}

func configMap(name string) *fstest.MapFile {
	return file("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: "+name)
}

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		dir  string
		// want lists the objects as "origin apiVersion kind name".
		want []string
		// wantErrs lists the start of each error, in order.
		wantErrs []string
		// check looks further into the objects.
		check func(t *testing.T, objs []Object)
	}{{
		name: "multi-document YAML with comments and empty documents",
		fsys: fstest.MapFS{"cm.yaml": file(
			"# leading comment",              // 1
			"---",                            // 2
			"apiVersion: v1",                 // 3
			"kind: ConfigMap",                // 4
			"metadata:",                      // 5
			"  name: one",                    // 6
			"---",                            // 7
			"---",                            // 8
			"# only a comment",               // 9
			"---",                            // 10
			"",                               // 11
			"--- # a separator with comment", // 12
			"# header comment",               // 13
			"apiVersion: v1",                 // 14
			"kind: ConfigMap",                // 15
			"metadata:",                      // 16
			"  name: two",                    // 17
			"---",                            // 18
			"null",                           // 19
			"---",                            // 20
		)},
		want: []string{
			"cm.yaml:3 v1 ConfigMap one",
			"cm.yaml:14 v1 ConfigMap two",
		},
	}, {
		name: "Windows line endings",
		fsys: fstest.MapFS{"cm.yaml": {Data: []byte(
			"apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: one\r\n---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: two\r\n",
		)}},
		want: []string{
			"cm.yaml:1 v1 ConfigMap one",
			"cm.yaml:6 v1 ConfigMap two",
		},
	}, {
		name: "List and typed list expanded into items at their own lines",
		fsys: fstest.MapFS{"list.yaml": file(
			"apiVersion: v1",    // 1
			"kind: List",        // 2
			"items:",            // 3
			"- apiVersion: v1",  // 4
			"  kind: ConfigMap", // 5
			"  metadata:",       // 6
			"    name: a",       // 7
			"- apiVersion: v1",  // 8
			"  kind: Secret",    // 9
			"  metadata:",       // 10
			"    name: b",       // 11
			"---",               // 12
			"apiVersion: v1",    // 13
			"kind: ConfigMapList",
			"items:",
			"- kind: ConfigMap", // 16
			"  apiVersion: v1",
			"  metadata: {name: c}",
			"---",
			"apiVersion: v1",
			"kind: List",
			"items: []",
		)},
		want: []string{
			"list.yaml:4 v1 ConfigMap a",
			"list.yaml:8 v1 Secret b",
			"list.yaml:16 v1 ConfigMap c",
		},
	}, {
		name: "JSON object, JSON List and YAML in a .json file",
		fsys: fstest.MapFS{
			"a.json": file(
				`{`,
				`  "apiVersion": "v1",`,
				`  "kind": "ConfigMap",`,
				`  "metadata": {"name": "a"}`,
				`}`,
			),
			"b.json": file(
				``,
				`{"apiVersion": "v1", "kind": "List", "items": [`, // 2
				`  {"apiVersion": "v1", "kind": "ConfigMap",`,     // 3
				`   "metadata": {"name": "b1"}},`,
				`	{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b2"}}`, // 5
				`]}`,
			),
			"c.json": file("apiVersion: v1", "kind: ConfigMap", "metadata: {name: c}"),
		},
		want: []string{
			"a.json:1 v1 ConfigMap a",
			"b.json:3 v1 ConfigMap b1",
			"b.json:5 v1 ConfigMap b2",
			"c.json:1 v1 ConfigMap c",
		},
	}, {
		name: "YAML starting with { and JSON followed by YAML, as kubectl reads them",
		fsys: fstest.MapFS{
			"flow.yaml": file("{apiVersion: v1, kind: ConfigMap,", " metadata: {name: flow}}"),
			"mixed.yaml": file(
				`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json"}}`,
				"---",
				"apiVersion: v1", // 3
				"kind: ConfigMap",
				"metadata: {name: yaml}",
			),
		},
		want: []string{
			"flow.yaml:1 v1 ConfigMap flow",
			"mixed.yaml:1 v1 ConfigMap json",
			"mixed.yaml:3 v1 ConfigMap yaml",
		},
	}, {
		name: "nested directories in walk order, origins relative to the root",
		fsys: fstest.MapFS{
			"apps/c.yaml":     configMap("c"),
			"apps/a.json":     {Data: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a.json"}}`)},
			"apps/a/z.yaml":   configMap("a-z"),
			"apps/a/b/c.yml":  configMap("a-b-c"),
			"apps/b.yaml":     configMap("b"),
			"other/skip.yaml": configMap("not under dir"),
		},
		dir: "apps",
		want: []string{
			"apps/a/b/c.yml:1 v1 ConfigMap a-b-c",
			"apps/a/z.yaml:1 v1 ConfigMap a-z",
			"apps/a.json:1 v1 ConfigMap a.json",
			"apps/b.yaml:1 v1 ConfigMap b",
			"apps/c.yaml:1 v1 ConfigMap c",
		},
	}, {
		name: "hidden files and directories skipped, other files ignored",
		fsys: fstest.MapFS{
			".github/workflows/ci.yaml": file("on: push", "jobs: {}"),
			".hidden.yaml":              configMap("hidden"),
			"app/.wip/cm.yaml":          configMap("wip"),
			"app/.secret.yml":           file("not: [valid"),
			"app/cm.yaml":               configMap("shown"),
			"app/README.md":             file("# notes", "key: [broken"),
			"app/cm.yaml.orig":          file("key: [broken"),
			"app/values.YAML":           file("key: [broken"),
			"Makefile":                  file("all:"),
		},
		want: []string{"app/cm.yaml:1 v1 ConfigMap shown"},
	}, {
		name: "symbolic links not followed",
		fsys: fstest.MapFS{
			"cm.yaml":   configMap("a"),
			"link.yaml": {Data: []byte("cm.yaml"), Mode: fs.ModeSymlink},
			"docs":      {Data: []byte("../docs"), Mode: fs.ModeSymlink},
		},
		wantErrs: []string{"link.yaml: not a regular file (symbolic links are not followed)"},
	}, {
		name: "numbers are int64 and unquoted yes is true, as with kubectl apply -f",
		fsys: fstest.MapFS{"deploy.yaml": file(
			"apiVersion: apps/v1",
			"kind: Deployment",
			"metadata: {name: web}",
			"spec:",
			"  replicas: 3",
			"  paused: yes",
			"  ratio: 0.5",
		)},
		want: []string{"deploy.yaml:1 apps/v1 Deployment web"},
		check: func(t *testing.T, objs []Object) {
			u := objs[0].Object
			if n, _, err := unstructured.NestedInt64(u.Object, "spec", "replicas"); err != nil || n != 3 {
				t.Errorf("spec.replicas = %d, %v; want int64 3", n, err)
			}
			if b, _, err := unstructured.NestedBool(u.Object, "spec", "paused"); err != nil || !b {
				t.Errorf("spec.paused = %v, %v; want true", b, err)
			}
			if f, _, err := unstructured.NestedFloat64(u.Object, "spec", "ratio"); err != nil || f != 0.5 {
				t.Errorf("spec.ratio = %v, %v; want 0.5", f, err)
			}
			_ = u.DeepCopy() // panics on values that are not JSON types
		},
	}, {
		name: "missing apiVersion, kind or name reported at the document line",
		fsys: fstest.MapFS{"bad.yaml": file(
			"apiVersion: v1",      // 1
			"kind: ConfigMap",     // 2
			"metadata:",           // 3
			"  labels: {a: b}",    // 4
			"---",                 // 5
			"# no apiVersion",     // 6
			"kind: Secret",        // 7
			"metadata: {name: s}", // 8
			"---",                 // 9
			"data: {a: b}",        // 10
			"---",                 // 11
			"apiVersion: v1",      // 12
			"kind: List",          // 13
			"items:",              // 14
			"- kind: ConfigMap",   // 15
			"  metadata: {name: x}",
			"- just a string", // 17
			"---",             // 18
			"- a",             // 19
			"- b",
			"---",
			"apiVersion: v1", // 22
			"kind: 5",
			"metadata: {name: n}",
		)},
		wantErrs: []string{
			"bad.yaml:1: ConfigMap has no metadata.name",
			"bad.yaml:7: Secret has no apiVersion",
			"bad.yaml:10: object has no apiVersion, kind and metadata.name",
			"bad.yaml:15: ConfigMap has no apiVersion",
			"bad.yaml:17: List item 1 is a string, not an object",
			"bad.yaml:19: document is a list, not an object",
			"bad.yaml:22: kind must be a string",
		},
	}, {
		name: "syntax error in the third document reported at the file line",
		fsys: fstest.MapFS{"apps/web.yaml": file(
			"apiVersion: v1",  // 1
			"kind: ConfigMap", // 2
			"metadata:",       // 3
			"  name: one",     // 4
			"---",             // 5
			"apiVersion: v1",  // 6
			"kind: ConfigMap", // 7
			"metadata:",       // 8
			"  name: two",     // 9
			"---",             // 10
			"apiVersion: v1",  // 11
			"kind: ConfigMap", // 12
			"metadata:",       // 13
			"  name: three",   // 14
			"  labels: a: b",  // 15
			"---",             // 16
			"apiVersion: v1",  // 17
			"kind: ConfigMap", // 18
		)},
		wantErrs: []string{
			"apps/web.yaml:15: yaml: mapping values are not allowed in this context",
			"apps/web.yaml:17: ConfigMap has no metadata.name",
		},
	}, {
		name: "every broken file reported, and no objects",
		fsys: fstest.MapFS{
			"a.yaml":      file("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: [a"),
			"b.json":      file(`{"apiVersion": "v1",`, `  "kind": "ConfigMap",,`, `}`),
			"c/d.yaml":    file("apiVersion: v1", "kind: ConfigMap", "metadata: {}"),
			"c/good.yaml": configMap("good"),
			"e.yaml":      file("apiVersion: v1", "kind: ConfigMap", "metadata:", "\tname: tab"),
			"f.yaml":      file("--- !!map", "apiVersion: v1"),
			"g.yaml":      file("{apiVersion: v1,", "  kind: @x}"),
		},
		wantErrs: []string{
			"a.yaml:4: yaml: did not find expected ',' or ']'",
			"b.json:2: json: invalid character ',' looking for beginning of object key string",
			"c/d.yaml:1: ConfigMap has no metadata.name",
			"e.yaml:4: yaml: found character that cannot start any token",
			`f.yaml:1: yaml: invalid document separator "--- !!map": put the document on the next line`,
			"f.yaml:2: object has no kind and metadata.name",
			"g.yaml:2: yaml: found character that cannot start any token",
		},
	}, {
		name: "kustomize overlay with namePrefix and commonLabels over a base",
		fsys: kustomizeTree(),
		dir:  "overlays/prod",
		want: []string{
			// kustomize's legacy order puts Services before Deployments.
			"overlays/prod/kustomization.yaml v1 Service prod-web",
			"overlays/prod/kustomization.yaml apps/v1 Deployment prod-web",
		},
		check: func(t *testing.T, objs []Object) {
			for _, o := range objs {
				if got := o.Object.GetLabels()["env"]; got != "prod" {
					t.Errorf("%s %s: label env = %q, want prod", o.Object.GetKind(), o.Object.GetName(), got)
				}
			}
			sel, _, _ := unstructured.NestedStringMap(objs[1].Object.Object, "spec", "selector", "matchLabels")
			if sel["env"] != "prod" || sel["app"] != "web" {
				t.Errorf("Deployment selector = %v, want app=web and env=prod", sel)
			}
			if n, _, err := unstructured.NestedInt64(objs[1].Object.Object, "spec", "replicas"); err != nil || n != 3 {
				t.Errorf("spec.replicas = %d, %v; want int64 3 from the patch", n, err)
			}
		},
	}, {
		name: "each kustomization built once and its subtree not walked, next to plain files",
		fsys: kustomizeTree(),
		want: []string{
			"base/kustomization.yaml v1 Service web",
			"base/kustomization.yaml apps/v1 Deployment web",
			"namespace.yaml:1 v1 Namespace web",
			"overlays/prod/kustomization.yaml v1 Service prod-web",
			"overlays/prod/kustomization.yaml apps/v1 Deployment prod-web",
			"tools/generated/Kustomization v1 ConfigMap settings-47668c6k28",
			"tools/z.yaml:1 v1 ConfigMap z",
		},
	}, {
		name: "kustomize errors name the kustomization file",
		fsys: fstest.MapFS{
			"a/kustomization.yaml":   file("resources: [missing.yaml]"),
			"b/kustomization.yaml":   file("resources: [../shared/cm.yaml]"),
			"shared/cm.yaml":         configMap("shared"),
			"c/kustomization.yaml":   file("resources: [cm.yaml]"),
			"c/cm.yaml":              file("apiVersion: v1", "kind: ConfigMap", "metadata: {labels: {a: b}}"),
			"d/kustomization.yaml":   file("resources: [", ""),
			"e/kustomization.yml":    file("namePrefix: x-"),
			"e/kustomization.yaml":   file("namePrefix: y-"),
			"f/ok/kustomization.yml": file("resources: [cm.yaml]"),
			"f/ok/cm.yaml":           configMap("ok"),
		},
		wantErrs: []string{
			"a/kustomization.yaml: kustomize: accumulating resources: accumulation err='accumulating resources from 'missing.yaml'",
			// Loads are restricted to the kustomization's directory.
			"b/kustomization.yaml: kustomize: accumulating resources: accumulation err='accumulating resources from '../shared/cm.yaml': security; file '/shared/cm.yaml' is not in or below '/b'",
			"c/kustomization.yaml: kustomize: accumulating resources: accumulation err='accumulating resources from 'cm.yaml': missing metadata.name",
			"d/kustomization.yaml: kustomize: invalid Kustomization: yaml: line 2: did not find expected node content",
			"e/kustomization.yaml: kustomize: Found multiple kustomization files",
		},
	}, {
		name: "an empty directory renders nothing",
		fsys: fstest.MapFS{"empty": {Mode: fs.ModeDir | 0o755}},
		dir:  "empty",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			if dir == "" {
				dir = "."
			}
			objs, err := Render(context.Background(), tt.fsys, dir)
			if got := errorLines(err); !matchPrefixes(got, tt.wantErrs) {
				t.Errorf("errors:\n%s\nwant errors starting with:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantErrs, "\n"))
			}
			if err != nil && objs != nil {
				t.Errorf("got %d objects with an error, want none", len(objs))
			}
			var got []string
			for _, o := range objs {
				got = append(got, fmt.Sprintf("%s %s %s %s", o.Origin, o.Object.GetAPIVersion(), o.Object.GetKind(), o.Object.GetName()))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.check != nil && err == nil && len(got) == len(tt.want) {
				tt.check(t, objs)
			}
		})
	}
}

// kustomizeTree is a repository with a kustomize base and overlay, a plain
// file, and a kustomization in a subdirectory next to plain files.
func kustomizeTree() fstest.MapFS {
	return fstest.MapFS{
		"namespace.yaml": file("apiVersion: v1", "kind: Namespace", "metadata:", "  name: web"),
		"base/kustomization.yaml": file(
			"apiVersion: kustomize.config.k8s.io/v1beta1",
			"kind: Kustomization",
			"resources:",
			"- deployment.yaml",
			"- service.yaml",
		),
		"base/deployment.yaml": file(
			"apiVersion: apps/v1",
			"kind: Deployment",
			"metadata:",
			"  name: web",
			"spec:",
			"  replicas: 1",
			"  selector:",
			"    matchLabels: {app: web}",
			"  template:",
			"    metadata:",
			"      labels: {app: web}",
			"    spec:",
			"      containers:",
			"      - name: web",
			"        image: nginx:1.27",
		),
		"base/service.yaml": file(
			"apiVersion: v1",
			"kind: Service",
			"metadata:",
			"  name: web",
			"spec:",
			"  selector: {app: web}",
			"  ports:",
			"  - port: 80",
		),
		// Not listed in base's resources, and broken: never read.
		"base/unused.yaml": file("key: [broken"),
		"overlays/prod/kustomization.yaml": file(
			"resources:",
			"- ../../base",
			"namePrefix: prod-",
			"commonLabels:",
			"  env: prod",
			"patches:",
			"- path: replicas.yaml",
		),
		"overlays/prod/replicas.yaml": file(
			"apiVersion: apps/v1",
			"kind: Deployment",
			"metadata: {name: web}",
			"spec: {replicas: 3}",
		),
		"tools/z.yaml": configMap("z"),
		"tools/generated/Kustomization": file(
			"configMapGenerator:",
			"- name: settings",
			"  envs: [.env]",
		),
		"tools/generated/.env": file("LOG_LEVEL=debug"),
	}
}

// errorLines returns the message of each error joined in err.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	var lines []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			lines = append(lines, e.Error())
		}
		return lines
	}
	return []string{err.Error()}
}

func matchPrefixes(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

// countingFS counts the opens of each name.
type countingFS struct {
	fs.FS
	opens map[string]int
}

func (c countingFS) Open(name string) (fs.File, error) {
	c.opens[name]++
	return c.FS.Open(name)
}

func TestRenderReadsOnlyWhatKustomizationsLoad(t *testing.T) {
	plain := countingFS{fstest.MapFS{"cm.yaml": configMap("a"), "notes.txt": file("x")}, map[string]int{}}
	if _, err := Render(context.Background(), plain, "."); err != nil {
		t.Fatal(err)
	}
	if n := plain.opens["notes.txt"]; n != 0 {
		t.Errorf("without a kustomization, notes.txt opened %d times, want 0", n)
	}

	// A large file next to a kustomization, and files the kustomizations
	// do not list, are never opened, not even to stat them: kustomize
	// reads the commit's tree lazily instead of a copy of all of it.
	tree := countingFS{kustomizeTree(), map[string]int{}}
	tree.FS.(fstest.MapFS)["notes.txt"] = file("x")
	tree.FS.(fstest.MapFS)["overlays/prod/big.bin"] = &fstest.MapFile{Data: make([]byte, 8<<20)}
	tree.FS.(fstest.MapFS)["overlays/unrelated/data.yaml"] = configMap("unrelated")
	if _, err := Render(context.Background(), tree, "overlays/prod"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"notes.txt", "overlays/prod/big.bin", "overlays/unrelated/data.yaml", "base/unused.yaml", "tools/z.yaml", "namespace.yaml"} {
		if n := tree.opens[name]; n != 0 {
			t.Errorf("%s opened %d times, want 0", name, n)
		}
	}
	for _, name := range []string{"base/deployment.yaml", "overlays/prod/replicas.yaml", "base/kustomization.yaml"} {
		if tree.opens[name] == 0 {
			t.Errorf("%s was not read, want it read", name)
		}
	}
}

func TestRenderErrorsAreTyped(t *testing.T) {
	fsys := fstest.MapFS{"apps/web.yaml": file("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: [a")}
	_, err := Render(context.Background(), fsys, ".")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *render.Error", err)
	}
	if want := (Origin{File: "apps/web.yaml", Line: 4}); e.Origin != want {
		t.Errorf("origin = %+v, want %+v", e.Origin, want)
	}
}

func TestRenderBadDir(t *testing.T) {
	fsys := fstest.MapFS{"cm.yaml": configMap("a")}
	for _, dir := range []string{"", "/", "../x", "apps/", "missing", "cm.yaml"} {
		if objs, err := Render(context.Background(), fsys, dir); err == nil {
			t.Errorf("Render(%q) = %d objects, want an error", dir, len(objs))
		}
	}
}

func TestRenderStopsWhenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fsys := fstest.MapFS{"cm.yaml": configMap("a"), "broken.yaml": file("key: [broken")}
	objs, err := Render(ctx, fsys, ".")
	if !errors.Is(err, context.Canceled) || objs != nil {
		t.Errorf("Render = %d objects, %v; want no objects and context.Canceled", len(objs), err)
	}
}

func TestOriginString(t *testing.T) {
	for _, tt := range []struct {
		o    Origin
		want string
	}{
		{Origin{File: "apps/web.yaml", Line: 12}, "apps/web.yaml:12"},
		{Origin{File: "apps/kustomization.yaml"}, "apps/kustomization.yaml"},
	} {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.o, got, tt.want)
		}
	}
}

func BenchmarkRender1000ConfigMaps(b *testing.B) {
	fsys := fstest.MapFS{}
	for i := range 1000 {
		fsys[fmt.Sprintf("apps/team-%d/cm-%04d.yaml", i%10, i)] = file(
			"# settings of one service",
			"apiVersion: v1",
			"kind: ConfigMap",
			"metadata:",
			fmt.Sprintf("  name: cm-%04d", i),
			"  namespace: default",
			"  labels: {app.kubernetes.io/name: web, tier: frontend}",
			"data:",
			"  LOG_LEVEL: info",
			"  FEATURE_X: \"true\"",
			"  TIMEOUT: 30s",
		)
	}
	ctx := context.Background()
	for b.Loop() {
		objs, err := Render(ctx, fsys, ".")
		if err != nil || len(objs) != 1000 {
			b.Fatalf("Render = %d objects, %v", len(objs), err)
		}
	}
}
