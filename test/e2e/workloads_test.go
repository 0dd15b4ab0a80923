package e2e

import (
	"strings"
	"testing"
)

func TestWorkloadsInAnEmptyNamespaceSaysWhereTheyAre(t *testing.T) {
	repo := newRepo(t, map[string]string{
		"deploy/web.yaml": deploymentYAML("web", "", "registry.example.com/demo/web:1.0.0"),
	})
	// The kubeconfig names no namespace, so the default namespace is
	// "default", and the only workload is in "demo".
	r := mustGitops(t, repo.dir, "workloads", "--repo", ".")
	if r.stdout != "" {
		t.Errorf("stdout is %q, want nothing (as kubectl get prints no header)", r.stdout)
	}
	want := "No resources found in default namespace. 1 workload is in other namespaces (demo): -A lists them"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr is %q, want it to contain %q", r.stderr, want)
	}

	r = mustGitops(t, repo.dir, "workloads", "--repo", ".", "-n", "other", "-o", "json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("-o json with no workloads printed %q, want []", r.stdout)
	}
}
