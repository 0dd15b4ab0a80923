package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deploymentJSON is a Deployment written in JSON, in a hand-made layout
// that an edit must keep byte for byte.
func deploymentJSON(name, namespace, image string) string {
	return `{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {
    "name": "` + name + `",
    "namespace": "` + namespace + `",
    "annotations": {"fluxcd.io/automated": "true", "fluxcd.io/tag.web": "semver:^1"}
  },
  "spec": {
    "replicas": 1,
    "selector": {"matchLabels": {"app": "` + name + `"}},
    "template": {
      "metadata": {"labels": {"app": "` + name + `"}},
      "spec": {
        "containers": [
          {"name": "web", "image": "` + image + `", "args": ["--port", "8080"]}
        ]
      }
    }
  }
}
`
}

// A Deployment written in JSON is synced like a YAML one; workloads lists
// it and images --update moves its tag, changing only those bytes, so
// that the next sync applies the new image.
func TestJSONWorkloadIsListedAndUpdated(t *testing.T) {
	ns := namespace(t)
	reg := newRegistry(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tag := range []string{"1.0.0", "1.0.5", "2.0.0"} {
		reg.push("demo/web", tag, base.Add(time.Duration(i)*time.Hour))
	}
	old := reg.host + "/demo/web:1.0.0"
	original := deploymentJSON("web", ns, old)
	repo := newRepo(t, map[string]string{"deploy/web.json": original})
	mustKubectl(t, "gitops", "sync", "--name", "json", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	if got := mustKubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout; got != old {
		t.Fatalf("synced image %q, want %q", got, old)
	}

	r := mustKubectl(t, "gitops", "workloads", "--repo", repo.dir, "--path", "deploy", "-n", ns, "-o", "json")
	var listed []struct{ Workload, Origin, Container, Image string }
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(listed) != 1 || listed[0].Workload != ns+":deployment/web" || listed[0].Origin != "deploy/web.json:1" || listed[0].Container != "web" || listed[0].Image != old {
		t.Fatalf("workloads lists %+v, want the JSON Deployment %s:deployment/web at deploy/web.json:1 with %s", listed, ns, old)
	}

	r = mustKubectl(t, "gitops", "images", "--update", "--repo", repo.dir, "--path", "deploy", "-n", ns, "--author", "Test Operator <operator@example.com>")
	if !strings.Contains(r.stdout, "demo/web 1.0.0 -> 1.0.5 ("+ns+":deployment/web)") {
		t.Fatalf("images --update output:\n%s\n%s", r.stdout, r.stderr)
	}
	got := readFile(t, filepath.Join(repo.dir, "deploy/web.json"))
	if want := strings.Replace(original, "web:1.0.0", "web:1.0.5", 1); got != want {
		t.Fatalf("deploy/web.json after the update:\n%s\nwant only the tag changed:\n%s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatalf("deploy/web.json is no longer JSON:\n%s", got)
	}
	if msg := repo.git("log", "-1", "--format=%B"); !strings.Contains(msg, "Auto-release "+reg.host+"/demo/web:1.0.5") {
		t.Fatalf("commit message:\n%s", msg)
	}

	mustKubectl(t, "gitops", "sync", "--name", "json", "-n", ns)
	if got := mustKubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout; got != reg.host+"/demo/web:1.0.5" {
		t.Fatalf("image after the next sync %q, want %s", got, reg.host+"/demo/web:1.0.5")
	}
}
