package render

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
)

// TestKustomizeLoadsOnlyCommitFiles gives kustomizations every kind of
// remote or absolute path kustomize would load, with a recording HTTP
// server as the remote and a fake git on PATH that leaves a marker when
// run. Each is an error naming the kustomization file and the path, and
// nothing is fetched or run.
func TestKustomizeLoadsOnlyCommitFiles(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: remote}\n"))
	}))
	defer srv.Close()
	bin := t.TempDir()
	marker := filepath.Join(t.TempDir(), "git-ran")
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte("#!/bin/sh\necho \"$@\" >> "+marker+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)

	u := srv.URL
	local := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: local}\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string // each must appear in the error
	}{
		{"remote git base with an option as ref", map[string]string{
			"k/kustomization.yaml": "resources:\n- " + u + "/x.git?ref=--upload-pack=touch%20" + marker + "\n",
		}, []string{"k/kustomization.yaml: resources entry \"" + u + "/x.git?ref=--upload-pack=touch%20" + marker + "\" is a URL"}},
		{"go-getter git URL", map[string]string{
			"k/kustomization.yaml": "resources:\n- git::" + u + "/org/repo//base?ref=main\n",
		}, []string{"k/kustomization.yaml: resources entry \"git::" + u + "/org/repo//base?ref=main\" is a remote git repository"}},
		{"github shorthand", map[string]string{
			"k/kustomization.yaml": "resources:\n- github.com/org/repo/base?ref=--upload-pack=touch%20" + marker + "\n",
		}, []string{"resources entry \"github.com/org/repo/base?ref=--upload-pack=touch%20" + marker + "\" is a remote git repository"}},
		{"scp-style git URL", map[string]string{
			"k/kustomization.yaml": "resources:\n- git@127.0.0.1:org/repo.git\n",
		}, []string{"resources entry \"git@127.0.0.1:org/repo.git\" is a remote git repository"}},
		{"ssh and file URLs, bases and components", map[string]string{
			"k/kustomization.yaml": "bases:\n- ssh://git@127.0.0.1/org/repo.git\ncomponents:\n- file:///tmp/repo.git\n",
		}, []string{"bases entry \"ssh://git@127.0.0.1/org/repo.git\" is a URL", "components entry \"file:///tmp/repo.git\" is a URL"}},
		{"absolute path", map[string]string{
			"k/kustomization.yaml": "resources:\n- /etc/passwd\n",
		}, []string{"resources entry \"/etc/passwd\" is an absolute path"}},
		{"remote resource file", map[string]string{
			"k/kustomization.yaml": "resources:\n- " + u + "/cm.yaml\n",
		}, []string{"resources entry \"" + u + "/cm.yaml\" is a URL"}},
		{"generator files", map[string]string{
			"k/kustomization.yaml": "configMapGenerator:\n- name: a\n  files: [key=" + u + "/secret]\n  envs: [" + u + "/env]\nsecretGenerator:\n- name: b\n  files: [" + u + "/s]\n  env: /etc/environment\n",
		}, []string{
			"configMapGenerator files entry \"key=" + u + "/secret\" is a URL",
			"configMapGenerator envs entry \"" + u + "/env\" is a URL",
			"secretGenerator files entry \"" + u + "/s\" is a URL",
			"secretGenerator envs entry \"/etc/environment\" is an absolute path",
		}},
		{"patches, crds, configurations, replacements, openapi", map[string]string{
			"k/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: " + u + "/p1\npatchesStrategicMerge:\n- " + u + "/p2\npatchesJson6902:\n- path: " + u + "/p3\n  target: {kind: ConfigMap, name: local}\ncrds: [" + u + "/crd]\nconfigurations: [" + u + "/conf]\nreplacements:\n- path: " + u + "/r\nopenapi:\n  path: " + u + "/schema\n",
			"k/cm.yaml":            local,
		}, []string{"patches entry \"" + u + "/p1\"", "patchesStrategicMerge entry \"" + u + "/p2\"", "patchesJson6902 entry \"" + u + "/p3\"", "crds entry \"" + u + "/crd\"", "configurations entry \"" + u + "/conf\"", "replacements entry \"" + u + "/r\"", "openapi entry \"" + u + "/schema\""}},
		{"paths in plugin configurations", map[string]string{
			"k/kustomization.yaml": "resources: [cm.yaml]\ngenerators: [gen.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: " + u + "/patch\n",
			"k/gen.yaml":           "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: [x=" + u + "/gen]\n",
			"k/cm.yaml":            local,
		}, []string{"generators file gen.yaml entry \"x=" + u + "/gen\" is a URL", "transformers entry \"" + u + "/patch\" is a URL"}},
		{"a directory of plugin configurations", map[string]string{
			"k/kustomization.yaml":        "resources: [cm.yaml]\nvalidators: [checks]\n",
			"k/cm.yaml":                   local,
			"k/checks/kustomization.yaml": "resources: [v.yaml]\n",
			"k/checks/v.yaml":             local,
		}, []string{"k/kustomization.yaml: validators entry \"checks\" is a directory"}},
		{"remote base of a local base", map[string]string{
			"k/kustomization.yaml":    "resources: [../base]\n",
			"base/kustomization.yaml": "resources:\n- " + u + "/org/repo.git\n",
		}, []string{"base/kustomization.yaml: resources entry \"" + u + "/org/repo.git\" is a URL"}},
		{"helm charts", map[string]string{
			"k/kustomization.yaml": "helmCharts:\n- name: x\n  repo: " + u + "\n",
		}, []string{"k/kustomization.yaml: helmCharts are not rendered (they run the helm program): write a HelmRelease"}},
		{"helm chart generator", map[string]string{
			"k/kustomization.yaml": "generators:\n- |\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n  metadata: {name: h}\n  chartName: x\n  chartRepoUrl: " + u + "\n",
		}, []string{"HelmChartInflationGenerator is not run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requests.Store(0)
			_ = os.Remove(marker)
			fsys := fstest.MapFS{}
			for name, data := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			objs, err := Render(context.Background(), fsys, "k")
			if err == nil {
				t.Fatalf("Render = %d objects, want an error", len(objs))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("the HTTP server got %d requests, want none", n)
			}
			if _, err := os.Stat(marker); err == nil {
				out, _ := os.ReadFile(marker)
				t.Errorf("git ran: %s", out)
			}
		})
	}
}

// TestKustomizeKeepsLocalLoads checks that what a kustomization may load
// from the commit still builds: bases, components, generator files and
// env files, patches, inline plugin configurations and files of them.
func TestKustomizeKeepsLocalLoads(t *testing.T) {
	fsys := fstest.MapFS{
		"app/kustomization.yaml": file(
			"resources: [../base, cm.yaml]",
			"components: [../comp]",
			"configMapGenerator:",
			"- name: gen",
			"  files: [key=data.txt]",
			"  envs: [vars.env]",
			"patches:",
			"- path: patch.yaml",
			"generators: [gen.yaml]",
			"transformers:",
			"- |",
			"  apiVersion: builtin",
			"  kind: LabelTransformer",
			"  metadata: {name: l}",
			"  labels: {team: a}",
			"  fieldSpecs: [{path: metadata/labels, create: true}]",
		),
		"app/cm.yaml":             configMap("app"),
		"app/data.txt":            file("some: [text"),
		"app/vars.env":            file("A=1"),
		"app/patch.yaml":          file("apiVersion: v1", "kind: ConfigMap", "metadata: {name: app}", "data: {patched: \"yes\"}"),
		"app/gen.yaml":            file("apiVersion: builtin", "kind: ConfigMapGenerator", "metadata: {name: fromfile}", "files: [g=data.txt]"),
		"base/kustomization.yaml": file("resources: [cm.yaml]"),
		"base/cm.yaml":            configMap("base"),
		"comp/kustomization.yaml": file("apiVersion: kustomize.config.k8s.io/v1alpha1", "kind: Component", "resources: [cm.yaml]"),
		"comp/cm.yaml":            configMap("comp"),
	}
	objs, err := Render(context.Background(), fsys, "app")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Object.GetName()+" "+o.Object.GetLabels()["team"])
	}
	want := "app a, base a, comp a, fromfile-"
	if s := strings.Join(got, ", "); !strings.HasPrefix(s, want) || len(objs) != 5 {
		t.Errorf("objects %q, want 5 starting with %q", s, want)
	}
}
