//go:build unix

package images

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// generatedTree is a repository whose deploy/ is made by a generator that
// writes the images of image-web.txt and image-api.txt into a template, with
// an updater that rewrites those files.
func generatedTree(updater string) fstest.MapFS {
	cfg := `apiVersion: kubectl-gitops.dev/v1alpha1
kind: Generators
includeFiles: true
generators:
  - name: sed
    command: [sh, -c, 'for app in web api; do sed -e "s|APP|$app|" -e "s|IMAGE|$(cat image-$app.txt)|" deployment.tmpl; done']
` + updater
	tmpl := "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: APP\n  annotations:\n    fluxcd.io/automated: \"true\"\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: IMAGE\n"
	return fstest.MapFS{
		"deploy/.gitops.yaml":    {Data: []byte(cfg)},
		"deploy/deployment.tmpl": {Data: []byte(tmpl)},
		"deploy/image-web.txt":   {Data: []byte("reg.example.com/web:1.0.0")},
		"deploy/image-api.txt":   {Data: []byte("reg.example.com/api:1.0.0")},
		"deploy/plain.yaml":      {Data: []byte(deployment("plain", "", "reg.example.com/plain:1.0.0"))},
	}
}

const fileUpdater = `updaters:
  - name: files
    setImage: [sh, -c, 'app=${KUBECTL_GITOPS_WORKLOAD##*/}; printf "%s" "$KUBECTL_GITOPS_IMAGE_REF" > image-$app.txt']
`

func treeOf(fsys fstest.MapFS, allow bool) Tree {
	return Tree{FS: fsys, Dir: "deploy", Namespace: "shop", Generate: generate.Options{Allow: allow}}
}

func TestWorkloadsOfAGeneratedTree(t *testing.T) {
	fsys := generatedTree(fileUpdater)
	if _, err := treeOf(fsys, false).Workloads(t.Context()); !errors.Is(err, generate.ErrNotAllowed) {
		t.Fatalf("without permission: %v", err)
	}
	found, err := treeOf(fsys, true).Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range found {
		got = append(got, f.ID.String()+" "+f.Containers[0].Image+" "+f.Origin+" generated="+map[bool]string{true: "yes", false: "no"}[f.Generated]+" "+f.Note)
	}
	want := []string{
		"shop:deployment/plain reg.example.com/plain:1.0.0 deploy/plain.yaml:1 generated=no ",
		`shop:deployment/web reg.example.com/web:1.0.0 generator "sed" (deploy/.gitops.yaml), output line 2 generated=yes `,
		`shop:deployment/api reg.example.com/api:1.0.0 generator "sed" (deploy/.gitops.yaml), output line 15 generated=yes `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("workloads:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !found[1].Policy().Automated {
		t.Error("the generated workload's policy annotations were not read")
	}

	// Without an updater, generated workloads cannot be edited, and say so.
	found, err = treeOf(generatedTree(""), true).Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if found[0].Note != "" || found[1].Note != NoUpdater {
		t.Errorf("notes: %q, %q", found[0].Note, found[1].Note)
	}
}

func TestEditTreeRunsTheUpdaters(t *testing.T) {
	fsys := generatedTree(fileUpdater)
	tree := treeOf(fsys, true)
	before, err := tree.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	web := workload.ID{Namespace: "shop", Kind: "deployment", Name: "web"}
	plain := workload.ID{Namespace: "shop", Kind: "deployment", Name: "plain"}
	changes := []Change{
		{Workload: web, Container: "app", From: "reg.example.com/web:1.0.0", To: "reg.example.com/web:1.1.0", Generated: true},
		{Workload: plain, Container: "app", File: "deploy/plain.yaml", From: "reg.example.com/plain:1.0.0", To: "reg.example.com/plain:2.0.0"},
	}
	files, err := EditTree(t.Context(), tree, before, changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || string(files["deploy/image-web.txt"]) != "reg.example.com/web:1.1.0" || !strings.Contains(string(files["deploy/plain.yaml"]), "plain:2.0.0") {
		t.Fatalf("files: %q", files)
	}

	// An updater that misses the image, or moves another one, is caught
	// before anything is committed.
	for name, updater := range map[string]string{
		"does nothing":   "updaters:\n  - name: noop\n    setImage: [sh, -c, 'true']\n",
		"moves too much": "updaters:\n  - name: all\n    setImage: [sh, -c, 'for f in image-*.txt; do printf %s \"$KUBECTL_GITOPS_IMAGE_REF\" > $f; done']\n",
		"fails":          "updaters:\n  - name: broken\n    setImage: [sh, -c, 'echo cannot parse the template >&2; exit 1']\n",
	} {
		tree := treeOf(generatedTree(updater), true)
		_, err := EditTree(t.Context(), tree, before, changes[:1])
		want := map[string]string{
			"does nothing":   "the edit did not verify, nothing is committed: shop:deployment/web container app (generated): image reg.example.com/web:1.0.0, want reg.example.com/web:1.1.0",
			"moves too much": "shop:deployment/api container app (generated): image reg.example.com/web:1.1.0, want reg.example.com/api:1.0.0",
			"fails":          `updater "broken" (deploy/.gitops.yaml:8) setImage failed: exit status 1; its standard error:` + "\n    cannot parse the template",
		}[name]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v\nwant %s", name, err, want)
		}
	}
	if _, err := EditTree(t.Context(), treeOf(fsys, false), before, changes[:1]); !errors.Is(err, generate.ErrNotAllowed) {
		t.Errorf("without permission: %v", err)
	}
}
