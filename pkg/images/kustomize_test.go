package images

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubectl-gitops/kubectl-gitops/internal/golden"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

const testdata = golden.Dir("../../testdata/images")

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// mixedTree renders (under deploy/) a kustomize overlay of a base outside
// deploy/, a JSON workload and a YAML one. The overlay moves the base's
// Deployment to namespace prod as prod-web and sets images: the tag of
// web, the tag and digest of pinned, and the name (only) of side; a patch
// sets the image of debug.
func mixedTree() fstest.MapFS {
	return fstest.MapFS{
		"base/kustomization.yaml": {Data: []byte("resources:\n- web.yaml\n")},
		"base/web.yaml": {Data: []byte(`# the web app, as every environment runs it
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    fluxcd.io/automated: "true"
spec:
  template:
    spec:
      containers:
      - name: web
        image: reg.example.com/web:0.9.0 # overridden per environment
      - name: pinned
        image: reg.example.com/pinned:1.0.0
      - name: side
        image: reg.example.com/old-side:1.0.0
      - name: debug
        image: reg.example.com/debug:1.0.0
`)},
		"deploy/prod/kustomization.yaml": {Data: []byte(`# production
namespace: prod
namePrefix: prod-
resources:
  - ../../base
images:
  - name: reg.example.com/web   # the app
    newTag: "1.0.0"  # moved by automation
  - {name: reg.example.com/pinned, newTag: 2.0.0, digest: "` + digestA + `"}
  - name: reg.example.com/old-side
    newName: reg.example.com/side
patches:
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        template:
          spec:
            containers:
            - name: debug
              image: reg.example.com/debug:2.0.0
`)},
		"deploy/api.json": {Data: []byte(`{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {"name": "api", "namespace": "shop"},
  "spec": {"template": {"spec": {"containers": [
    {"name": "api", "image": "reg.example.com/api:3.0.0"}
  ]}}}
}
`)},
		"deploy/plain.yaml": {Data: []byte(deployment("plain", "", "reg.example.com/plain:1.0.0 # plain"))},
	}
}

// describeFound writes a workload's containers one a line: id, origin,
// container, image, and the note if any.
func describeFound(found []Found) []string {
	var out []string
	for _, f := range found {
		for i, c := range f.Containers {
			line := f.ID.String() + " " + f.Origin + " " + c.Name + "=" + c.Image
			if i < len(f.targets) && f.targets[i].note != "" {
				line += " (" + f.targets[i].note + ")"
			}
			out = append(out, line)
		}
	}
	return out
}

// The workloads are those sync applies: kustomize's ids and images, and
// the JSON and YAML files' own; each image says where it is edited.
func TestWorkloadsAreTheRenderedObjects(t *testing.T) {
	found, err := Tree{FS: mixedTree(), Dir: "deploy", Namespace: "default"}.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := describeFound(found)
	want := []string{
		"shop:deployment/api deploy/api.json:1 api=reg.example.com/api:3.0.0",
		"default:deployment/plain deploy/plain.yaml:1 app=reg.example.com/plain:1.0.0",
		// The patch's container comes first, as kustomize merges it.
		"prod:deployment/prod-web base/web.yaml:2 via deploy/prod/kustomization.yaml debug=reg.example.com/debug:2.0.0 (cannot be edited: base/web.yaml writes image reg.example.com/debug:1.0.0, and the images entries of the kustomizations do not make it reg.example.com/debug:2.0.0 (set by a patch or a transformer?))",
		"prod:deployment/prod-web base/web.yaml:2 via deploy/prod/kustomization.yaml web=reg.example.com/web:1.0.0",
		"prod:deployment/prod-web base/web.yaml:2 via deploy/prod/kustomization.yaml pinned=reg.example.com/pinned:2.0.0@" + digestA,
		"prod:deployment/prod-web base/web.yaml:2 via deploy/prod/kustomization.yaml side=reg.example.com/side:1.0.0",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("workloads:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	web := found[2]
	if !web.Policy().Automated || web.File != "base/web.yaml" || web.Kustomization != "deploy/prod/kustomization.yaml" || web.FileID != (workload.ID{Namespace: "default", Kind: "deployment", Name: "web"}) {
		t.Errorf("prod-web: automated %v, file %q, kustomization %q, file id %v", web.Policy().Automated, web.File, web.Kustomization, web.FileID)
	}
	wantTargets := map[string]string{"web": "deploy/prod/kustomization.yaml images.0", "pinned": "deploy/prod/kustomization.yaml images.1", "side": "base/web.yaml", "debug": ""}
	for i, tg := range web.targets {
		name := web.Containers[i].Name
		if got := strings.TrimSpace(tg.file + " " + strings.Join(tg.entry, ".")); got != wantTargets[name] {
			t.Errorf("container %s is edited in %q, want %q", name, got, wantTargets[name])
		}
	}
}

// An update edits the kustomization's images entry for an image it sets,
// byte for byte, the base file for an image it only renames, and the JSON
// and YAML files in place.
func TestEditTreeEditsWhereTheImageIsSet(t *testing.T) {
	fsys := mixedTree()
	tree := Tree{FS: fsys, Dir: "deploy", Namespace: "default"}
	before, err := tree.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	web := workload.ID{Namespace: "prod", Kind: "deployment", Name: "prod-web"}
	changes := []Change{
		{Workload: web, Container: "web", From: "reg.example.com/web:1.0.0", To: "reg.example.com/web:1.1.0"},
		{Workload: web, Container: "pinned", From: "reg.example.com/pinned:2.0.0@" + digestA, To: "reg.example.com/pinned:2.1.0@" + digestB},
		{Workload: web, Container: "side", From: "reg.example.com/side:1.0.0", To: "reg.example.com/side:1.0.1"},
		{Workload: workload.ID{Namespace: "shop", Kind: "deployment", Name: "api"}, Container: "api", From: "reg.example.com/api:3.0.0", To: "reg.example.com/api:3.1.0"},
		{Workload: workload.ID{Namespace: "default", Kind: "deployment", Name: "plain"}, Container: "app", From: "reg.example.com/plain:1.0.0", To: "reg.example.com/plain:1.2.0"},
	}
	files, err := EditTree(t.Context(), tree, before, changes)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"base/web.yaml", "deploy/api.json", "deploy/plain.yaml", "deploy/prod/kustomization.yaml"}; !slices.Equal(names, want) {
		t.Fatalf("edited %v, want %v", names, want)
	}
	for _, name := range names {
		testdata.Assert(t, strings.NewReplacer("/", "_", ".", "_").Replace(name), files[name])
	}

	// What the edited tree renders is what the changes said.
	after := tree
	after.FS = overlay{base: fsys, files: files}
	found, err := after.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(describeFound(found), "\n")
	for _, img := range []string{"web=reg.example.com/web:1.1.0", "pinned=reg.example.com/pinned:2.1.0@" + digestB, "side=reg.example.com/side:1.0.1", "api=reg.example.com/api:3.1.0", "app=reg.example.com/plain:1.2.0"} {
		if !strings.Contains(got, img) {
			t.Errorf("after the edit, no %s in\n%s", img, got)
		}
	}

	// An image set by a patch is not edited, and the error says why.
	debug := Change{Workload: web, Container: "debug", From: "reg.example.com/debug:2.0.0", To: "reg.example.com/debug:2.1.0"}
	if _, err := EditTree(t.Context(), tree, before, []Change{debug}); err == nil || !strings.Contains(err.Error(), "set by a patch or a transformer?") {
		t.Errorf("editing an image a patch sets: %v", err)
	}
}

// Scanning and planning give the kustomize-built workload's changes with
// the kustomization as the file edited.
func TestPlanKustomizeImage(t *testing.T) {
	host := serve(t, "web", "1.0.0", "1.1.0")
	fsys := fstest.MapFS{
		"base/kustomization.yaml":   {Data: []byte("resources: [web.yaml]\n")},
		"base/web.yaml":             {Data: []byte(deployment("web", "  annotations:\n    fluxcd.io/automated: \"true\"\n", host+"/web:0.1.0"))},
		"deploy/kustomization.yaml": {Data: []byte("namespace: prod\nnamePrefix: prod-\nresources: [../base]\nimages:\n- name: " + host + "/web\n  newTag: 1.0.0\n")},
	}
	reg, err := registry.New(registry.Config{NoDiskCache: true, Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	containers, err := Scan(t.Context(), fsys, "deploy", "default", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := Plan(t.Context(), containers, reg, UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Change{Workload: workload.ID{Namespace: "prod", Kind: "deployment", Name: "prod-web"}, Container: "app", File: "deploy/kustomization.yaml", From: host + "/web:1.0.0", To: host + "/web:1.1.0"}
	if len(changes) != 1 || changes[0] != want {
		t.Fatalf("changes %+v, want %+v", changes, want)
	}
	files, err := Edit(fsys, "deploy", "default", changes)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(files["deploy/kustomization.yaml"]), strings.Replace(string(fsys["deploy/kustomization.yaml"].Data), "newTag: 1.0.0", "newTag: 1.1.0", 1); len(files) != 1 || got != want {
		t.Fatalf("edited %q, want only deploy/kustomization.yaml:\n%s", files, want)
	}
}

// An images entry that two workloads share cannot move one of them alone:
// the edited tree is rendered again, and the other's image moving too is
// caught before anything is committed.
func TestEditTreeVerifiesByRendering(t *testing.T) {
	fsys := fstest.MapFS{
		"deploy/kustomization.yaml": {Data: []byte("resources: [a.yaml, b.yaml]\nimages:\n- name: reg.example.com/app\n  newTag: 1.0.0\n")},
		"deploy/a.yaml":             {Data: []byte(deployment("a", "", "reg.example.com/app:0.1.0"))},
		"deploy/b.yaml":             {Data: []byte(deployment("b", "", "reg.example.com/app:0.1.0"))},
	}
	tree := Tree{FS: fsys, Dir: "deploy", Namespace: "default"}
	before, err := tree.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a := Change{Workload: workload.ID{Namespace: "default", Kind: "deployment", Name: "a"}, Container: "app", From: "reg.example.com/app:1.0.0", To: "reg.example.com/app:1.1.0"}
	_, err = EditTree(t.Context(), tree, before, []Change{a})
	if want := "the edit did not verify, nothing is committed: default:deployment/b container app: image reg.example.com/app:1.1.0, want reg.example.com/app:1.0.0"; err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	b := a
	b.Workload.Name = "b"
	if _, err := EditTree(t.Context(), tree, before, []Change{a, b}); err != nil {
		t.Fatalf("moving both: %v", err)
	}
}

// The policy of a workload kustomize built is edited in the file its
// object was loaded from, found there under the name that file gives it.
func TestSetPolicyOfAKustomizeBuiltWorkload(t *testing.T) {
	fsys := mixedTree()
	found, err := Tree{FS: fsys, Dir: "deploy", Namespace: "default"}.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var web *Found
	for i := range found {
		if found[i].ID.Name == "prod-web" {
			web = &found[i]
		}
	}
	if web == nil {
		t.Fatal("no prod-web")
	}
	locked := true
	out, err := workload.SetPolicy(fsys[web.File].Data, web.Workload, workload.PolicyChange{Locked: &locked, LockedUser: "ops", LockedMsg: "incident"})
	if err != nil {
		t.Fatal(err)
	}
	testdata.Assert(t, "base_web_yaml_locked", out)
	fsys["base/web.yaml"] = &fstest.MapFile{Data: out}
	found, err = Tree{FS: fsys, Dir: "deploy", Namespace: "default"}.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		if f.ID == web.ID && !f.Policy().Locked {
			t.Errorf("%s is not locked after the edit: %v", f.ID, f.Annotations)
		}
	}

	// When the overlay sets policy annotations itself, an edit of the
	// base would not change what is applied: it is refused, saying where.
	fsys = mixedTree()
	k := fsys["deploy/prod/kustomization.yaml"]
	k.Data = append(k.Data, "commonAnnotations:\n  fluxcd.io/automated: \"false\"\n"...)
	found, err = Tree{FS: fsys, Dir: "deploy", Namespace: "default"}.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		if f.ID != web.ID {
			continue
		}
		if f.Policy().Automated {
			t.Errorf("%s is automated, though the overlay says not", f.ID)
		}
		_, err := workload.SetPolicy(fsys[f.File].Data, f.Workload, workload.PolicyChange{Locked: &locked})
		if want := "prod:deployment/prod-web: its policy cannot be edited in base/web.yaml, where it comes from: the kustomizations that build it (deploy/prod/kustomization.yaml) change its policy annotations; edit them there"; err == nil || err.Error() != want {
			t.Errorf("lock: %v\nwant %s", err, want)
		}
	}
}

// A workload whose file the byte-exact editor cannot address (JSON with a
// "\/" escape) is still listed, as sync applies it, with a note; an edit
// of it says why it cannot be made.
func TestUneditableJSONWorkloadIsListed(t *testing.T) {
	fsys := fstest.MapFS{"deploy/web.json": {Data: []byte(`{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "annotations": {"url": "https:\/\/example.com"}}, "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "reg.example.com/web:1.0.0"}]}}}}`)}}
	tree := Tree{FS: fsys, Dir: "deploy", Namespace: "default"}
	found, err := tree.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const note = `cannot be edited: deploy/web.json:1: workload default:deployment/web: its JSON cannot be read as YAML, as the byte-exact editor of images and policies needs: write it without "\/" escapes`
	if got := describeFound(found); len(got) != 1 || got[0] != "default:deployment/web deploy/web.json:1 web=reg.example.com/web:1.0.0 ("+note+")" {
		t.Fatalf("workloads: %q", got)
	}
	ch := Change{Workload: found[0].ID, Container: "web", From: "reg.example.com/web:1.0.0", To: "reg.example.com/web:1.1.0"}
	if _, err := EditTree(t.Context(), tree, found, []Change{ch}); err == nil || !strings.Contains(err.Error(), note) {
		t.Fatalf("edit: %v", err)
	}
	locked := true
	if _, err := workload.SetPolicy(fsys[found[0].File].Data, found[0].Workload, workload.PolicyChange{Locked: &locked}); err == nil || !strings.Contains(err.Error(), note) {
		t.Fatalf("lock: %v", err)
	}
}

// Through nested bases and a component, the id is the one kustomize gives
// (both prefixes, the outer namespace) and the tag is edited in the
// component, whose images entry is applied last.
func TestKustomizeComponentSetsTheTag(t *testing.T) {
	fsys := fstest.MapFS{
		"base/kustomization.yaml":   {Data: []byte("namePrefix: b-\nresources: [web.yaml]\nimages:\n- name: reg.example.com/app\n  newTag: \"1\"\n")},
		"base/web.yaml":             {Data: []byte(deployment("web", "", "reg.example.com/app:0"))},
		"mid/kustomization.yaml":    {Data: []byte("namePrefix: m-\nresources: [../base]\ncomponents: [../comp]\n")},
		"comp/kustomization.yaml":   {Data: []byte("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n- name: reg.example.com/app\n  newTag: \"2\" # the component's\n")},
		"deploy/kustomization.yaml": {Data: []byte("namespace: x\nresources: [../mid]\n")},
	}
	tree := Tree{FS: fsys, Dir: "deploy", Namespace: "default"}
	before, err := tree.Workloads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := describeFound(before); len(got) != 1 || got[0] != "x:deployment/m-b-web base/web.yaml:1 via deploy/kustomization.yaml app=reg.example.com/app:2" {
		t.Fatalf("workloads %q", got)
	}
	ch := Change{Workload: before[0].ID, Container: "app", From: "reg.example.com/app:2", To: "reg.example.com/app:3"}
	files, err := EditTree(t.Context(), tree, before, []Change{ch})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(string(fsys["comp/kustomization.yaml"].Data), `"2"`, `"3"`, 1); len(files) != 1 || string(files["comp/kustomization.yaml"]) != want {
		t.Fatalf("edited %q, want comp/kustomization.yaml:\n%s", files, want)
	}
}
