//go:build unix

package render

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
)

// TestMain lets the test binary be a KRM function: `render.test
// krm-function`. It labels every item with the ConfigMap functionConfig's
// data, adds a ConfigMap "added", and drops objects named "drop-me".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "krm-function" {
		p := framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error {
			var keep []*yaml.RNode
			for _, item := range rl.Items {
				if item.GetName() == "drop-me" {
					continue
				}
				for k, v := range rl.FunctionConfig.GetDataMap() {
					if err := item.PipeE(yaml.SetLabel(k, v)); err != nil {
						return err
					}
				}
				keep = append(keep, item)
			}
			added, err := yaml.Parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added\n")
			if err != nil {
				return err
			}
			rl.Items = append(keep, added)
			return nil
		})
		if err := framework.Execute(p, &kio.ByteReadWriter{Reader: os.Stdin, Writer: os.Stdout, KeepReaderAnnotations: true}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const configHead = "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Generators\n"

// printf is a generator printing text with sh's printf.
func printf(name, text string) string {
	return "  - name: " + name + "\n    command: [sh, -c, 'printf \"%s\" \"$0\"', " + fmt.Sprintf("%q", text) + "]\n"
}

var allow = Options{Generate: generate.Options{Allow: true}}

func TestRenderWithGenerators(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"deploy/.gitops.yaml": {Data: []byte(configHead + "includeFiles: true\ngenerators:\n" +
			printf("first", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gen-a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: drop-me\n") +
			"  - name: label\n    function:\n      exec: [" + fmt.Sprintf("%q", self) + ", krm-function]\n      config: {apiVersion: v1, kind: ConfigMap, metadata: {name: fn}, data: {team: web}}\n" +
			printf("last", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gen-b\n"),
		)},
		"deploy/plain.yaml":        configMap("plain"),
		"deploy/values.yaml.tmpl":  {Data: []byte("not a manifest")},
		"deploy/.hidden/cfg.yaml":  configMap("hidden"),
		"deploy/sub/.gitops.yaml2": {Data: []byte("x")},
	}
	objs, err := RenderWith(t.Context(), fsys, "deploy", allow)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, fmt.Sprintf("%s %s team=%s annotations=%v", o.Origin, o.Object.GetName(), o.Object.GetLabels()["team"], o.Object.GetAnnotations()))
	}
	want := []string{
		"deploy/plain.yaml:1 plain team=web annotations=map[]",
		`generator "first" (deploy/.gitops.yaml), output line 1 gen-a team=web annotations=map[]`,
		`generator "label" (deploy/.gitops.yaml) added team= annotations=map[]`,
		`generator "last" (deploy/.gitops.yaml), output line 1 gen-b team= annotations=map[]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := objs[0].Object.Object["metadata"].(map[string]any)["annotations"]; ok {
		t.Error("an empty annotations map was left behind")
	}
}

func TestRenderWithGeneratorsReplacesFiles(t *testing.T) {
	// A config at the top applies to every path under it; the plain files
	// are not read; the generator runs in the synced path.
	fsys := fstest.MapFS{
		".gitops.yaml":           {Data: []byte(configHead + "generators:\n  - name: cat\n    command: [cat, manifest.txt]\n")},
		"apps/web/manifest.txt":  configMap("from-the-generator"),
		"apps/web/template.yaml": configMap("a-template-not-a-manifest"),
	}
	objs, err := RenderWith(t.Context(), fsys, "apps/web", allow)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Object.GetName() != "from-the-generator" || objs[0].Origin.String() != `generator "cat" (.gitops.yaml), output line 1` {
		t.Fatalf("objects: %+v", objs)
	}
}

func TestRenderWithoutPermission(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	fsys := fstest.MapFS{
		"deploy/.gitops.yaml": {Data: []byte(configHead + "generators:\n  - name: touch\n    command: [touch, " + marker + "]\n")},
		"deploy/a.yaml":       configMap("a"),
	}
	for name, render := range map[string]func() ([]Object, error){
		"Render":     func() ([]Object, error) { return Render(t.Context(), fsys, "deploy") },
		"RenderWith": func() ([]Object, error) { return RenderWith(t.Context(), fsys, "deploy", Options{}) },
	} {
		objs, err := render()
		if !errors.Is(err, generate.ErrNotAllowed) || objs != nil {
			t.Fatalf("%s: %v, %v", name, objs, err)
		}
		for _, want := range []string{"deploy/.gitops.yaml declares generators", `generator "touch" (deploy/.gitops.yaml:4) runs touch`, "--allow-generators"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q: %v", name, want, err)
			}
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the generator ran without permission")
	}
}

func TestRenderWithGeneratorErrors(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	touch := "  - name: touch\n    command: [touch, " + marker + "]\n"
	tests := []struct {
		name   string
		config string
		want   []string
	}{{
		name:   "an invalid config runs nothing",
		config: configHead + "generators:\n" + touch + "  - name: bad\n    command: [x]\n    shell: true\n",
		want:   []string{`deploy/.gitops.yaml:8: unknown field "shell" in a generator`},
	}, {
		name:   "a missing program runs nothing",
		config: configHead + "generators:\n" + touch + "  - name: missing\n    command: [no-such-generator]\n",
		want:   []string{`generator "missing" (deploy/.gitops.yaml:6): program "no-such-generator" is not in PATH`},
	}, {
		name:   "output that is not YAML names the generator and the line",
		config: configHead + "generators:\n" + printf("broken", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: [\n"),
		want:   []string{`generator "broken" (deploy/.gitops.yaml), output line 6: yaml:`},
	}, {
		name:   "an object without a name",
		config: configHead + "generators:\n" + printf("nameless", "apiVersion: v1\nkind: ConfigMap\n"),
		want:   []string{`generator "nameless" (deploy/.gitops.yaml), output line 1: ConfigMap has no metadata.name`},
	}, {
		name:   "no output",
		config: configHead + "generators:\n" + printf("empty", "# nothing today\n"),
		want:   []string{`generator "empty" (deploy/.gitops.yaml): printed no objects`},
	}, {
		name:   "a failing generator",
		config: configHead + "generators:\n  - name: fails\n    command: [sh, -c, 'echo \"vars.env: no such file\" >&2; exit 4']\n",
		want:   []string{`generator "fails" (deploy/.gitops.yaml:4) failed: exit status 4; its standard error:`, "vars.env: no such file"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"deploy/.gitops.yaml": {Data: []byte(tt.config)}}
			objs, err := RenderWith(t.Context(), fsys, "deploy", allow)
			if err == nil || objs != nil {
				t.Fatalf("objects %v, error %v", objs, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(tt.name, "runs nothing") {
				if _, err := os.Stat(marker); err == nil {
					t.Error("a generator ran")
				}
			}
		})
	}
}
