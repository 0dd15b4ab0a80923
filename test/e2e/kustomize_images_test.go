package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A Deployment built by kustomize is seen by images and lock as sync
// applies it: the overlay's namespace and namePrefix give its id, the
// overlay's images entry its image. images --update moves the tag in that
// entry, byte for byte, so that the next sync applies it; a manual
// release with --image does too; lock takes the id sync applies and writes
// the lock into the base file the Deployment comes from.
func TestKustomizeBuiltWorkloadIsListedUpdatedAndLocked(t *testing.T) {
	ns := namespace(t)
	reg := newRegistry(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tag := range []string{"0.1.0", "1.0.0", "1.0.5", "2.0.0"} {
		reg.push("demo/web", tag, base.Add(time.Duration(i)*time.Hour))
	}
	web := deploymentYAML("web", "  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.web: semver:^1\n", reg.host+"/demo/web:0.1.0")
	web = strings.Replace(web, "  namespace: demo\n", "", 1)
	overlay := "# production\nnamespace: " + ns + "\nnamePrefix: prod-\nresources:\n  - ../../base\nimages:\n  - name: " + reg.host + "/demo/web  # the app\n    newTag: \"1.0.0\"   # moved by automation\n"
	repo := newRepo(t, map[string]string{
		"base/kustomization.yaml":        "resources:\n- web.yaml\n",
		"base/web.yaml":                  web,
		"deploy/prod/kustomization.yaml": overlay,
	})
	id := ns + ":deployment/prod-web"
	const author = "Test Operator <operator@example.com>"
	live := func() string {
		t.Helper()
		return mustKubectl(t, "get", "deployment", "prod-web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout
	}
	mustKubectl(t, "gitops", "sync", "--name", "kust", "--repo", repo.dir, "--path", "deploy/prod", "-n", ns)
	if got := live(); got != reg.host+"/demo/web:1.0.0" {
		t.Fatalf("synced image %q, want the overlay's tag 1.0.0", got)
	}

	// images lists the id and image sync applied.
	r := mustKubectl(t, "gitops", "images", "--repo", repo.dir, "--path", "deploy/prod", "-n", ns, "-o", "json")
	var listed []struct{ Workload, Origin, Container, Image, Latest, Note string }
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(listed) != 1 || listed[0].Workload != id || listed[0].Image != reg.host+"/demo/web:1.0.0" || listed[0].Latest != "1.0.5" ||
		listed[0].Origin != "base/web.yaml:2 via deploy/prod/kustomization.yaml" || listed[0].Note != "" {
		t.Fatalf("images lists %+v, want %s with %s/demo/web:1.0.0, latest 1.0.5, from base/web.yaml:2 via deploy/prod/kustomization.yaml", listed, id, reg.host)
	}

	// Automation moves the tag where it is set: the overlay's images entry.
	r = mustKubectl(t, "gitops", "images", "--update", "--repo", repo.dir, "--path", "deploy/prod", "-n", ns, "--author", author)
	if !strings.Contains(r.stdout, "demo/web 1.0.0 -> 1.0.5 ("+id+")") {
		t.Fatalf("images --update output:\n%s\n%s", r.stdout, r.stderr)
	}
	if got, want := readFile(t, filepath.Join(repo.dir, "deploy/prod/kustomization.yaml")), strings.Replace(overlay, `newTag: "1.0.0"`, `newTag: "1.0.5"`, 1); got != want {
		t.Fatalf("the overlay after the update:\n%s\nwant only the tag changed:\n%s", got, want)
	}
	if got := readFile(t, filepath.Join(repo.dir, "base/web.yaml")); got != web {
		t.Fatalf("the base changed:\n%s", got)
	}
	if files := repo.git("show", "--name-only", "--format=", "HEAD"); files != "deploy/prod/kustomization.yaml" {
		t.Fatalf("the commit changed %q", files)
	}
	mustKubectl(t, "gitops", "sync", "--name", "kust", "-n", ns)
	if got := live(); got != reg.host+"/demo/web:1.0.5" {
		t.Fatalf("image after the next sync %q, want %s/demo/web:1.0.5", got, reg.host)
	}

	// A manual release of an exact tag (back to 1.0.0) lands in the same
	// entry.
	mustKubectl(t, "gitops", "images", "--update", "--repo", repo.dir, "--path", "deploy/prod", "-n", ns, "--image", reg.host+"/demo/web:1.0.0", "--author", author)
	if got := readFile(t, filepath.Join(repo.dir, "deploy/prod/kustomization.yaml")); got != overlay {
		t.Fatalf("the overlay after --image:\n%s\nwant:\n%s", got, overlay)
	}
	mustKubectl(t, "gitops", "sync", "--name", "kust", "-n", ns)
	if got := live(); got != reg.host+"/demo/web:1.0.0" {
		t.Fatalf("image after --image and sync %q, want 1.0.0", got)
	}

	// lock takes the id sync applies, and writes the lock into the base.
	r = mustKubectl(t, "gitops", "lock", id, "--repo", repo.dir, "--path", "deploy/prod", "-m", "hold", "--author", author)
	if !strings.Contains(readFile(t, filepath.Join(repo.dir, "base/web.yaml")), "fluxcd.io/locked: \"true\"") {
		t.Fatalf("lock did not lock base/web.yaml:\n%s\n%s", r.stdout, r.stderr)
	}
	r = mustKubectl(t, "gitops", "images", "--repo", repo.dir, "--path", "deploy/prod", "-n", ns, "-o", "json")
	var after []struct {
		Workload string
		Locked   bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &after); err != nil || len(after) != 1 || after[0].Workload != id || !after[0].Locked {
		t.Fatalf("after the lock, images lists %s (%v)", r.stdout, err)
	}
	// Unlocked, automation would move 1.0.0 to 1.0.5; locked, it does not.
	head := repo.git("rev-parse", "HEAD")
	mustKubectl(t, "gitops", "images", "--update", "--repo", repo.dir, "--path", "deploy/prod", "-n", ns, "--author", author)
	if repo.git("rev-parse", "HEAD") != head {
		t.Fatal("automation moved a locked workload")
	}
}
