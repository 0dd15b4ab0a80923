package render

import (
	"context"
	"errors"
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubectl-gitops/kubectl-gitops/internal/yamlbomb"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// deep nests sequences past the limit.
func deep() string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\nx: " + strings.Repeat("[", 600) + strings.Repeat("]", 600) + "\n"
}

// TestRenderRefusesCostlyYAML puts an alias bomb and deep nesting in every
// kind of YAML the renderer reads: each is an error naming the file, and
// the test's memory stays small.
func TestRenderRefusesCostlyYAML(t *testing.T) {
	bomb := yamlbomb.ConfigMap()
	tests := []struct {
		name  string
		files map[string]string
		dir   string
		want  string
	}{
		{"plain file", map[string]string{"apps/lol.yaml": bomb}, "apps", "apps/lol.yaml:1: aliases expand"},
		{"plain file, deep", map[string]string{"apps/deep.yaml": deep()}, "apps", "apps/deep.yaml:1: nesting deeper than 512 levels"},
		{"kustomize resource", map[string]string{
			"k/kustomization.yaml": "resources: [cm.yaml, lol.yaml]\n",
			"k/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
			"k/lol.yaml":           bomb,
		}, "k", "k/lol.yaml:1: aliases expand"},
		{"kustomize resource not named .yaml", map[string]string{
			"k/kustomization.yaml": "resources: [lol.txt]\n",
			"k/lol.txt":            bomb,
		}, "k", "k/lol.txt:1: aliases expand"},
		{"kustomize base resource", map[string]string{
			"k/kustomization.yaml":    "resources: [../base]\n",
			"base/kustomization.yaml": "resources: [deep.yaml]\n",
			"base/deep.yaml":          deep(),
		}, "k", "base/deep.yaml:1: nesting deeper than 512 levels"},
		{"kustomization file", map[string]string{
			"k/kustomization.yaml": "resources: []\n" + strings.TrimPrefix(bomb, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\n"),
		}, "k", "k/kustomization.yaml:1: aliases expand"},
		{"kustomize patch file", map[string]string{
			"k/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: lol.yaml\n",
			"k/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\n",
			"k/lol.yaml":           bomb,
		}, "k", "k/lol.yaml:1: aliases expand"},
		{"kustomize inline patch", map[string]string{
			"k/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- patch: |\n" + indent(bomb, "    "),
			"k/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\n",
		}, "k", "k/kustomization.yaml: inline YAML of patches, its line 1: aliases expand"},
		{"generator config", map[string]string{
			".gitops.yaml": "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Generators\ngenerators:\n- name: x\n  command: [x]\nx:\n" + strings.TrimPrefix(bomb, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n"),
		}, ".", ".gitops.yaml:1: aliases expand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			objs, err := Render(context.Background(), fsys, tt.dir)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render = %d objects, %v; want an error containing %q", len(objs), err, tt.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
				t.Errorf("Render allocated %d MiB, want it bounded", grew>>20)
			}
		})
	}
}

func TestGeneratorOutputIsGuarded(t *testing.T) {
	origin := Origin{File: "deploy/.gitops.yaml", Generator: "templates"}
	_, errs := decodeOutput(origin, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"+yamlbomb.ConfigMap()), true)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `generator "templates" (deploy/.gitops.yaml), output line 4: aliases expand`) {
		t.Errorf("errors = %v, want one naming the generator's output line 4", errs)
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix) + "\n"
}

// bigFS is a file system whose one file says it is larger than it is, to
// show that a file over the limit is refused before it is read.
type bigFS struct{ fstest.MapFS }

type bigInfo struct{ fs.FileInfo }

func (bigInfo) Size() int64 { return yamlguard.MaxFileSize + 1 }

type bigEntry struct{ fs.DirEntry }

func (e bigEntry) Info() (fs.FileInfo, error) {
	info, err := e.DirEntry.Info()
	return bigInfo{info}, err
}

func (b bigFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := b.MapFS.ReadDir(name)
	for i, e := range entries {
		if e.Name() == "huge.yaml" {
			entries[i] = bigEntry{e}
		}
	}
	return entries, err
}

func (b bigFS) Open(name string) (fs.File, error) {
	if name == "apps/huge.yaml" {
		return nil, errors.New("huge.yaml was opened")
	}
	return b.MapFS.Open(name)
}

func (b bigFS) ReadFile(name string) ([]byte, error) {
	if name == "apps/huge.yaml" {
		return nil, errors.New("huge.yaml was read")
	}
	return b.MapFS.ReadFile(name)
}

func TestRenderRefusesLargeFilesUnread(t *testing.T) {
	fsys := bigFS{fstest.MapFS{"apps/huge.yaml": &fstest.MapFile{Data: []byte("x: 1\n")}}}
	_, err := Render(context.Background(), fsys, "apps")
	if err == nil || !strings.Contains(err.Error(), "apps/huge.yaml: the file has 64 MiB, more than the 64 MiB allowed") {
		t.Errorf("Render = %v, want the file refused by its size", err)
	}
}
