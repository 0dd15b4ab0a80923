package e2e

import (
	"path/filepath"
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

// TestLockALockedWorkload: locking a locked workload again keeps the first
// lock, its author and message, and says whose it is; --force or -m with a
// new message replaces it.
func TestLockALockedWorkload(t *testing.T) {
	writeGitConfig(t)
	repo := newRepo(t, map[string]string{"deploy/web.yaml": deploymentYAML("web", "", "registry.example.com/demo/web:1.0.0")})
	file := filepath.Join(repo.dir, "deploy/web.yaml")
	mustGitops(t, repo.dir, "lock", "demo:deployment/web", "--repo", ".", "-m", "hold for the migration", "--locked-by", "Alice <alice@example.com>")
	head, locked := repo.git("rev-parse", "HEAD"), readFile(t, file)

	refused := "demo:deployment/web is already locked by Alice <alice@example.com>: hold for the migration. Nothing was changed"
	for _, args := range [][]string{
		{"lock", "demo:deployment/web", "--repo", "."},
		{"lock", "demo:deployment/web", "--repo", ".", "-m", "hold for the migration"},
		{"lock", "demo:deployment/web", "--repo", ".", "--locked-by", "Bob <bob@example.com>"},
		{"policy", "demo:deployment/web", "--repo", ".", "--lock", "--automate"},
	} {
		r := gitops(t, repo.dir, args...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, refused) {
			t.Errorf("kubectl gitops %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, refused)
		}
		if got := repo.git("rev-parse", "HEAD"); got != head {
			t.Fatalf("kubectl gitops %s committed %s", strings.Join(args, " "), got)
		}
		if got := readFile(t, file); got != locked {
			t.Fatalf("kubectl gitops %s changed the file:\n%s", strings.Join(args, " "), got)
		}
	}

	// A new message replaces the lock, with the new author.
	mustGitops(t, repo.dir, "lock", "demo:deployment/web", "--repo", ".", "-m", "hold until 2.0")
	got := readFile(t, file)
	for _, want := range []string{`kubectl-gitops.dev/locked_user: "Test Operator <operator@example.com>"`, "hold until 2.0"} {
		if !strings.Contains(got, want) || strings.Contains(got, "Alice") {
			t.Fatalf("lock -m with a new message: the file lacks %q or keeps Alice:\n%s", want, got)
		}
	}
	// --force replaces it, message and all.
	head = repo.git("rev-parse", "HEAD")
	mustGitops(t, repo.dir, "lock", "demo:deployment/web", "--repo", ".", "--force", "--locked-by", "Bob <bob@example.com>")
	got = readFile(t, file)
	if repo.git("rev-parse", "HEAD") == head || !strings.Contains(got, `kubectl-gitops.dev/locked_user: "Bob <bob@example.com>"`) || strings.Contains(got, "hold until 2.0") {
		t.Fatalf("lock --force did not replace the lock:\n%s", got)
	}
	// --force is lock's.
	if r := gitops(t, repo.dir, "unlock", "demo:deployment/web", "--repo", ".", "--force"); r.code != 1 || !strings.Contains(r.stderr, "unknown flag: --force") {
		t.Fatalf("unlock --force: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := gitops(t, repo.dir, "policy", "demo:deployment/web", "--repo", ".", "--automate", "--force"); r.code != 1 || !strings.Contains(r.stderr, "--force goes with --lock") {
		t.Fatalf("policy --automate --force: exit %d, stderr %q", r.code, r.stderr)
	}
}
