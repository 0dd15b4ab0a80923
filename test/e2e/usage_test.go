package e2e

import (
	"strings"
	"testing"
)

// TestUsageErrorThroughKubectl: a mistyped flag, through kubectl, prints the
// error and where the help is on stderr, nothing on stdout, and exits 1, as
// kubectl's own commands do.
func TestUsageErrorThroughKubectl(t *testing.T) {
	r := kubectl(t, "gitops", "sync", "--name", "web", "--pth", "deploy")
	want := "error: unknown flag: --pth\nSee 'kubectl gitops sync --help' for usage.\n"
	if r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1, no stdout, stderr:\n%s", r.code, r.stdout, r.stderr, want)
	}
}

// TestDiffOfAnUnknownSet: diff --name of a set that does not exist says so
// and names the sets of the namespace, instead of asking for the source of
// a set that is not there; and it writes nothing.
func TestDiffOfAnUnknownSet(t *testing.T) {
	ns := namespace(t)
	r := kubectl(t, "gitops", "diff", "--name", "nope", "-n", ns)
	want := `error: no sync set "nope" in namespace ` + ns + ` (sync set not found): there are no sync sets there. Check --name and -n, or pass --repo to name the source of a new set`
	if r.code != 2 || r.stdout != "" || strings.TrimSpace(r.stderr) != want {
		t.Fatalf("diff of a set in an empty namespace: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 2 and:\n%s", r.code, r.stdout, r.stderr, want)
	}

	repo := newRepo(t, map[string]string{"web/a.yaml": configMap("web-config", "committed"), "api/a.yaml": configMap("api-config", "committed")})
	for _, name := range []string{"web", "api"} {
		mustKubectl(t, "gitops", "sync", "--name", name, "--repo", repo.dir, "--path", name, "-n", ns)
	}
	// Only kubectl-gitops's sets are listed: not a ConfigMap of another
	// ApplySet tool.
	mustKubectl(t, "create", "configmap", "other-tool", "-n", ns)
	mustKubectl(t, "label", "configmap", "other-tool", "-n", ns, "applyset.kubernetes.io/id=applyset-other")
	mustKubectl(t, "annotate", "configmap", "other-tool", "-n", ns, "applyset.kubernetes.io/tooling=kubectl/v1.37")

	for _, args := range [][]string{
		{"gitops", "diff", "--name", "nope", "-n", ns},
		{"gitops", "sync", "--name", "nope", "-n", ns},
	} {
		r = kubectl(t, args...)
		want = `error: no sync set "nope" in namespace ` + ns + ` (sync set not found): the sync sets there are api, web. Check --name and -n`
		if r.code == 0 || r.stdout != "" || !strings.HasPrefix(r.stderr, want) || strings.Contains(r.stderr, "--repo is required") {
			t.Fatalf("kubectl %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant an error starting:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr, want)
		}
	}
	if r := kubectl(t, "get", "configmap", "nope", "-n", ns); r.code == 0 {
		t.Fatalf("a sync of an unknown set created its parent:\n%s", r.stdout)
	}
}
