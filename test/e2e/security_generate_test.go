package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// commitLinks makes symbolic links (path: target) in the repository's work
// tree and commits them.
func (r *repo) commitLinks(msg string, links map[string]string) {
	r.t.Helper()
	for name, target := range links {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			r.t.Fatal(err)
		}
	}
	r.commit(msg, nil)
}

// generatorConfig is a .gitops.yaml with one generator running script in sh.
func generatorConfig(name, script string, timeout string) string {
	var b strings.Builder
	b.WriteString("apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Generators\ngenerators:\n  - name: " + name + "\n")
	if timeout != "" {
		b.WriteString("    timeout: " + timeout + "\n")
	}
	b.WriteString("    command:\n      - sh\n      - -c\n      - |\n")
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		b.WriteString("        " + line + "\n")
	}
	return b.String()
}

// TestSecurityGeneratorLinkChainStaysInTheCommit: a chain of symbolic links
// that each look inside the repository (l0 -> .., l1 -> l0/.., ...) but
// together climb out of it must not let an allowed generator read a file
// outside the commit. The workspace leaves such links out: the generator
// sees no such file, and a failing generator's error names the link.
func TestSecurityGeneratorLinkChainStaysInTheCommit(t *testing.T) {
	ns := namespace(t)
	secretDir := t.TempDir()
	marker := fmt.Sprintf("outside-the-commit-%d", os.Getpid())
	secret := filepath.Join(secretDir, "secret.txt")
	if err := os.WriteFile(secret, []byte(marker+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The generator writes what it read into a ConfigMap, so that anything
	// it read shows in the output.
	reads := generatorConfig("reads", `
echo 'apiVersion: v1'
echo 'kind: ConfigMap'
echo 'metadata: {name: leak}'
echo 'data:'
echo "  root: $KUBECTL_GITOPS_ROOT"
echo '  read: |'
for name in f abs; do
  if [ -e "$name" ]; then
    while IFS= read -r line; do echo "    $line"; done < "$name"
  else
    echo "    $name: No such file or directory"
  fi
done
`, "")
	repo := newRepo(t, map[string]string{"deploy/.gitops.yaml": reads, "deploy/app.yaml": configMap("app", "x")})
	links := map[string]string{"deploy/l0": "..", "deploy/abs": secret}
	for i := 1; i < 16; i++ {
		links[fmt.Sprintf("deploy/l%d", i)] = fmt.Sprintf("l%d/..", i-1)
	}
	links["deploy/f"] = "l15" + secret
	repo.commitLinks("a chain of links out of the repository", links)

	// Workspaces go into tmp, to see that every run removes its own.
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp}
	base := []string{"--name", "chain", "--repo", repo.dir, "--path", "deploy", "-n", ns, "--allow-generators"}
	assertNoLeak := func(what string, r result) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, marker) {
			t.Fatalf("%s: the generator read the file outside the commit:\n%s\n%s", what, r.stdout, r.stderr)
		}
		if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
			t.Fatalf("%s: a workspace was left behind in %s: %v %v", what, tmp, entries, err)
		}
	}

	r := kubectlWith(t, env, append([]string{"gitops", "sync", "--dry-run=server", "-o", "yaml"}, base...)...)
	assertNoLeak("sync --dry-run=server", r)
	if r.code != 0 || !strings.Contains(r.stdout, "leak") {
		t.Fatalf("sync --dry-run=server: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// diff shows the generated ConfigMap's content: what the generator saw
	// (the generator's PATH has sh alone, hence its builtins).
	r = kubectlWith(t, env, append([]string{"gitops", "diff"}, base...)...)
	assertNoLeak("diff", r)
	for _, want := range []string{"f: No such file or directory", "abs: No such file or directory"} {
		if r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Fatalf("diff: exit %d, stdout lacks %q:\n%s\n%s", r.code, want, r.stdout, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "root: "+tmp+string(filepath.Separator)) {
		t.Fatalf("diff: the workspace was not made in $TMPDIR %s:\n%s", tmp, r.stdout)
	}

	// A generator that fails on the missing file: the error says why.
	repo.commit("fail on a missing file", map[string]string{"deploy/.gitops.yaml": generatorConfig("strict", "set -e\nread -r line < f\necho \"$line\"\n", "")})
	r = kubectlWith(t, env, append([]string{"gitops", "sync", "--dry-run=server"}, base...)...)
	assertNoLeak("a failing generator", r)
	for _, want := range []string{`generator "strict" (deploy/.gitops.yaml:4) failed`, "cannot open f: No such file", "deploy/f (a symbolic link leading outside the repository)", "deploy/abs (a symbolic link to an absolute path)"} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("a failing generator: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}

	// A generator that times out: its workspace is removed too.
	repo.commit("hang", map[string]string{"deploy/.gitops.yaml": generatorConfig("hangs", "read -r line < f\necho \"$line\" > out.txt\nwhile :; do :; done\n", "1s")})
	r = kubectlWith(t, env, append([]string{"gitops", "sync", "--dry-run=server"}, base...)...)
	assertNoLeak("a generator that timed out", r)
	if r.code == 0 || !strings.Contains(r.stderr, `generator "hangs" (deploy/.gitops.yaml:4): timed out after 1s`) {
		t.Fatalf("a generator that timed out: exit %d\n%s", r.code, r.stderr)
	}

	// Nothing in the cluster changed.
	for _, name := range []string{"leak", "app", "chain"} {
		if g := kubectl(t, "get", "configmap", name, "-n", ns); g.code == 0 {
			t.Errorf("configmap %s was created", name)
		}
	}
}
