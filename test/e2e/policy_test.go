package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLockUnlockRoundTripsByteForByte(t *testing.T) {
	writeGitConfig(t)
	original := deploymentYAML("web", "", "registry.example.com/demo/web:1.0.0")
	repo := newRepo(t, map[string]string{"deploy/web.yaml": original})
	file := filepath.Join(repo.dir, "deploy/web.yaml")

	r := mustGitops(t, repo.dir, "lock", "demo:deployment/web", "--repo", ".", "-m", "hold for the migration")
	if !strings.Contains(r.stdout, "Locked: demo:deployment/web") {
		t.Fatalf("lock output:\n%s", r.stdout)
	}
	locked := readFile(t, file)
	// Adding a policy only adds lines.
	if removed := diffRemoved(original, locked); removed != 0 {
		t.Fatalf("lock removed or changed %d lines:\n%s", removed, locked)
	}
	for _, want := range []string{`kubectl-gitops.dev/locked: "true"`, `kubectl-gitops.dev/locked_user: "Test Operator <operator@example.com>"`, "hold for the migration"} {
		if !strings.Contains(locked, want) {
			t.Fatalf("locked file lacks %q:\n%s", want, locked)
		}
	}
	if msg := repo.git("log", "-1", "--format=%B"); !strings.Contains(msg, "Locked: demo:deployment/web") || !strings.Contains(msg, "hold for the migration") {
		t.Fatalf("commit message:\n%s", msg)
	}

	// workloads shows the lock, who and why.
	w := mustGitops(t, repo.dir, "workloads", "--repo", ".", "-A")
	if !strings.Contains(w.stdout, "locked (Test Operator <operator@example.com>: hold for the migration)") {
		t.Fatalf("workloads:\n%s", w.stdout)
	}

	mustGitops(t, repo.dir, "unlock", "deployment/web", "-n", "demo", "--repo", ".")
	if got := readFile(t, file); got != original {
		t.Fatalf("lock then unlock did not give back the file:\n%s\nwant:\n%s", got, original)
	}
	if n := repo.git("rev-list", "--count", "HEAD"); n != "3" {
		t.Fatalf("%s commits, want one per command", n)
	}
}

func TestPolicyKeepsFluxPrefixAndValidates(t *testing.T) {
	writeGitConfig(t)
	flux := "  annotations: {fluxcd.io/automated: \"false\"}\n"
	original := deploymentYAML("web", flux, "registry.example.com/demo/web:1.0.0")
	repo := newRepo(t, map[string]string{"web.yaml": original})
	file := filepath.Join(repo.dir, "web.yaml")
	head := repo.git("rev-parse", "HEAD")

	// An invalid pattern is refused before anything is written.
	r := gitops(t, repo.dir, "policy", "demo:deployment/web", "--repo", ".", "--tag", "web=semver:>>1")
	if r.code == 0 || !strings.Contains(r.stderr, "semver") {
		t.Fatalf("invalid pattern: exit %d\n%s", r.code, r.stderr)
	}
	r = gitops(t, repo.dir, "policy", "demo:deployment/web", "--repo", ".", "--tag", "web=regex:(")
	if r.code == 0 || repo.git("rev-parse", "HEAD") != head {
		t.Fatalf("invalid regex: exit %d, head moved: %v\n%s", r.code, repo.git("rev-parse", "HEAD") != head, r.stderr)
	}
	// An unknown workload names close matches and writes nothing.
	r = gitops(t, repo.dir, "automate", "demo:deployment/wbe", "--repo", ".")
	if r.code == 0 || !strings.Contains(r.stderr, "demo:deployment/web") {
		t.Fatalf("unknown workload: exit %d\n%s", r.code, r.stderr)
	}
	if repo.git("rev-parse", "HEAD") != head || readFile(t, file) != original {
		t.Fatal("a refused command wrote")
	}

	mustGitops(t, repo.dir, "policy", "demo:deployment/web", "--repo", ".", "--automate", "--tag", "web=semver:~1.2")
	got := readFile(t, file)
	want := strings.Replace(original, `{fluxcd.io/automated: "false"}`, `{fluxcd.io/automated: "true", fluxcd.io/tag.web: "semver:~1.2"}`, 1)
	if got != want {
		t.Fatalf("flow map edit:\n%s\nwant:\n%s", got, want)
	}
	if msg := repo.git("log", "-1", "--format=%s"); !strings.Contains(msg, "Automated") || !strings.Contains(msg, "demo:deployment/web") {
		t.Fatalf("subject %q", msg)
	}

	mustGitops(t, repo.dir, "policy", "demo:deployment/web", "--repo", ".", "--tag", "web=*")
	mustGitops(t, repo.dir, "deautomate", "demo:deployment/web", "--repo", ".")
	if got := readFile(t, file); strings.Contains(got, "tag.web") || strings.Contains(got, "automated") {
		t.Fatalf("filter or automation left behind:\n%s", got)
	}

	var rows []struct {
		Workload  string
		Automated bool
	}
	out := mustGitops(t, repo.dir, "workloads", "--repo", ".", "-n", "demo", "-o", "json")
	if err := json.Unmarshal([]byte(out.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Automated {
		t.Fatalf("workloads -o json: %v\n%s", err, out.stdout)
	}
}

func TestPolicyPushesToARemote(t *testing.T) {
	writeGitConfig(t)
	work := newRepo(t, map[string]string{"web.yaml": deploymentYAML("web", "", "registry.example.com/demo/web:1.0.0")})
	bare := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustGitops(t, t.TempDir(), "automate", "demo:deployment/web", "--repo", "file://"+bare)
	out, err := exec.Command("git", "--git-dir", bare, "show", "main:web.yaml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `kubectl-gitops.dev/automated: "true"`) {
		t.Fatalf("remote main:web.yaml: %v\n%s", err, out)
	}
}

// diffRemoved counts the lines of before that are not in after, in order.
func diffRemoved(before, after string) int {
	a, b := strings.Split(before, "\n"), strings.Split(after, "\n")
	removed, j := 0, 0
	for _, line := range a {
		for j < len(b) && b[j] != line {
			j++
		}
		if j == len(b) {
			removed++
			continue
		}
		j++
	}
	return removed
}

func TestWorkloadIDsComplete(t *testing.T) {
	repo := newRepo(t, map[string]string{"web.yaml": deploymentYAML("web", "", "registry.example.com/demo/web:1.0.0")})
	r := mustGitops(t, repo.dir, "__complete", "lock", "--repo", ".", "demo:")
	if !strings.Contains(r.stdout, "demo:deployment/web") {
		t.Fatalf("workload ids are not completed:\n%s", r.stdout)
	}
}

func TestLockAGeneratedWorkloadThroughItsUpdater(t *testing.T) {
	writeGitConfig(t)
	// The generator and updater below are shell lines; they need these tools.
	for _, tool := range []string{"grep", "mv"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(binDir, tool)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	cfg := `apiVersion: kubectl-gitops.dev/v1alpha1
kind: Generators
generators:
  - name: gen
    command: [sh, gen.sh]
updaters:
  - name: policies
    setPolicy: [sh, -c, 'grep -v "^$FLUX_POLICY=" policies.txt > p.new; if [ -n "$FLUX_POLICY_VALUE" ]; then echo "$FLUX_POLICY=$FLUX_POLICY_VALUE" >> p.new; fi; mv p.new policies.txt']
`
	gen := `echo "apiVersion: apps/v1"
echo "kind: Deployment"
echo "metadata: {name: web, namespace: demo, annotations: {generated-by: gen}}"
echo "spec: {template: {spec: {containers: [{name: app, image: registry.example.com/web:1.0.0}]}}}"
while IFS='=' read -r k v; do echo "---"; echo "# $k=$v"; done < policies.txt
`
	// The generator above ignores policies, so the updater's result cannot verify.
	repo := newRepo(t, map[string]string{"deploy/.gitops.yaml": cfg, "deploy/gen.sh": gen, "deploy/policies.txt": "# policies\n"})
	head := repo.git("rev-parse", "HEAD")
	r := gitops(t, repo.dir, "lock", "demo:deployment/web", "--repo", ".", "--path", "deploy")
	if r.code == 0 || !strings.Contains(r.stderr, "--allow-generators") {
		t.Fatalf("without permission: exit %d\n%s", r.code, r.stderr)
	}
	r = gitops(t, repo.dir, "lock", "demo:deployment/web", "--repo", ".", "--path", "deploy", "--allow-generators")
	if r.code == 0 || !strings.Contains(r.stderr, "nothing is committed") || repo.git("rev-parse", "HEAD") != head {
		t.Fatalf("an updater whose result does not verify: exit %d\n%s", r.code, r.stderr)
	}

	// A generator that renders the policies: the lock lands in policies.txt.
	gen = strings.Replace(gen, `echo "metadata: {name: web, namespace: demo, annotations: {generated-by: gen}}"`,
		`printf "metadata: {name: web, namespace: demo, annotations: {generated-by: gen"; while IFS='=' read -r k v; do case "$k" in "#"*) ;; *) printf ', kubectl-gitops.dev/%s: "%s"' "$k" "$v";; esac; done < policies.txt; echo "}}"`, 1)
	gen = strings.Replace(gen, "while IFS='=' read -r k v; do echo \"---\"; echo \"# $k=$v\"; done < policies.txt\n", "", 1)
	repo.commit("render the policies", map[string]string{"deploy/gen.sh": gen})
	mustGitops(t, repo.dir, "lock", "demo:deployment/web", "--repo", ".", "--path", "deploy", "--allow-generators", "-m", "frozen")
	policies := readFile(t, filepath.Join(repo.dir, "deploy/policies.txt"))
	for _, want := range []string{"locked=true\n", "locked_user=Test Operator <operator@example.com>\n", "locked_msg=frozen\n"} {
		if !strings.Contains(policies, want) {
			t.Fatalf("policies.txt lacks %q:\n%s", want, policies)
		}
	}
	w := mustGitops(t, repo.dir, "workloads", "--repo", ".", "--path", "deploy", "-A", "--allow-generators")
	if !strings.Contains(w.stdout, "demo:deployment/web") || !strings.Contains(w.stdout, "locked (Test Operator <operator@example.com>: frozen)") {
		t.Fatalf("workloads does not show the generated workload's lock:\n%s", w.stdout)
	}
}
