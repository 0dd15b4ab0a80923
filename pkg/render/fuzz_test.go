package render

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubectl-gitops/kubectl-gitops/internal/yamlbomb"
)

// seeds are inputs for the decode fuzz targets: ordinary manifests, JSON,
// Lists, broken YAML, an alias bomb and deep nesting.
func seeds(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
		`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}`,
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n",
		"base: &b {x: 1}\nuse: *b\n",
		"--- &a [x]\n---\n- *a\n",
		"a: [\n",
		"",
		yamlbomb.ConfigMap(),
		deep(),
		"[" + strings.Repeat("{\"a\":[", 300) + strings.Repeat("]}", 300) + "]",
	} {
		f.Add([]byte(s))
	}
}

// checkErrors fails unless every error joined in err names want.
func checkErrors(t *testing.T, err error, want string) {
	t.Helper()
	for _, line := range errorLines(err) {
		if !strings.Contains(line, want) {
			t.Errorf("error %q does not name its input %q", line, want)
		}
	}
}

// FuzzDecodeFile decodes a manifest file: no panic, bounded memory (the
// seeds include an alias bomb), and every error names the file.
func FuzzDecodeFile(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, errs := decodeFile("apps/input.yaml", data, true)
		checkErrors(t, errors.Join(errs...), "apps/input.yaml")
	})
}

// FuzzDecodeGeneratorOutput decodes a generator's output: every error names
// the generator and its config.
func FuzzDecodeGeneratorOutput(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, errs := decodeOutput(Origin{File: "deploy/.gitops.yaml", Generator: "gen"}, data, true)
		checkErrors(t, errors.Join(errs...), `generator "gen" (deploy/.gitops.yaml)`)
	})
}

// FuzzDecodeKustomizeInput renders a kustomization whose resource, and then
// whose kustomization file, is the input: every error names the
// kustomization or the resource, and one that the guard raises names the
// file at fault.
func FuzzDecodeKustomizeInput(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"k/kustomization.yaml": &fstest.MapFile{Data: []byte("resources: [input.yaml]\n")},
			"k/input.yaml":         &fstest.MapFile{Data: data},
		}
		_, err := Render(context.Background(), fsys, "k")
		checkErrors(t, err, "k/")
		for _, line := range errorLines(err) {
			if guarded(line) && !strings.Contains(line, "k/input.yaml") {
				t.Errorf("error %q does not name k/input.yaml", line)
			}
		}

		fsys = fstest.MapFS{"k/kustomization.yaml": &fstest.MapFile{Data: data}}
		_, err = Render(context.Background(), fsys, "k")
		checkErrors(t, err, "k/kustomization.yaml")
	})
}

// guarded says whether an error line is one of yamlguard's.
func guarded(line string) bool {
	for _, s := range []string{"aliases expand", "nesting deeper than", "more than the"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}
