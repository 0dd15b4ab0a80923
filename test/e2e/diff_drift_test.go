package e2e

import (
	"strings"
	"testing"
)

// After kubectl scale, another field manager owns spec.replicas: diff
// shows what a forced sync would change, marked as a conflict, counts the
// object and exits 1, instead of failing with exit 2.
func TestDiffShowsDriftOwnedByAnotherManager(t *testing.T) {
	ns := namespace(t)
	deploy := strings.Replace(neverReady("web"), "spec:\n  selector:", "spec:\n  replicas: 2\n  selector:", 1)
	repo := newRepo(t, map[string]string{
		"deploy/web.yaml": deploy,
		"deploy/cm.yaml":  configMap("settings", "one"),
	})
	mustKubectl(t, "gitops", "sync", "web", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	mustKubectl(t, "scale", "deploy/web", "--replicas=5", "-n", ns)

	r := kubectl(t, "gitops", "diff", "web", "-n", ns)
	if r.code != 1 {
		t.Fatalf("diff after kubectl scale: exit %d, want 1 (differs)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"► Deployment/" + ns + "/web would change\n",
		`(conflict: .spec.replicas owned by field manager "kubectl`,
		"--force-conflicts",
		"-  replicas: 5\n",
		"+  replicas: 2\n",
		"0 to create, 1 to change, 0 to prune, 1 unchanged\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff after kubectl scale: no %q in\n%s", want, r.stdout)
		}
	}

	// A sync without --force-conflicts still refuses to take the field,
	// and diff changed nothing.
	if r := kubectl(t, "gitops", "sync", "web", "-n", ns); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "--force-conflicts") {
		t.Errorf("sync after kubectl scale: exit %d, want a conflict naming --force-conflicts\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := mustKubectl(t, "get", "deploy/web", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout; got != "5" {
		t.Errorf("replicas after diff and a refused sync: %s, want 5", got)
	}
}
