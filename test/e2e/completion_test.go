package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bashCompletion is the script of Debian's bash-completion package, which
// kubectl's bash completion uses.
const bashCompletion = "/usr/share/bash-completion/bash_completion"

// completionPath is an isolated PATH holding kubectl, the plugin and
// kubectl_complete-gitops, the last written by `kubectl gitops completion
// kubectl`, as the README tells a krew user to run.
func completionPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(binDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(binDir, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), filepath.Join(dir, "kubectl"), "gitops", "completion", "kubectl")
	cmd.Env = []string{"PATH=" + dir, "HOME=" + home, "KUBECONFIG=" + kubeconfig}
	if r := execute(t, cmd); r.code != 0 {
		t.Fatalf("kubectl gitops completion kubectl: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "kubectl_complete-gitops")); err != nil {
		t.Fatalf("kubectl gitops completion kubectl wrote no script: %v", err)
	}
	return dir
}

// complete loads bash-completion and kubectl's own bash completion, as
// `source <(kubectl completion bash)` in ~/.bashrc does, and completes line
// (which ends where the cursor is) with kubectl's completion function,
// returning COMPREPLY.
func complete(t *testing.T, path, line string) []string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash not found: ", err)
	}
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Fatalf("bash-completion is not installed (apt-get install bash-completion; .ci/run does): %v", err)
	}
	script := `set -e
source ` + bashCompletion + `
source <(kubectl completion bash)
set +e
COMP_LINE="$1"
COMP_POINT=${#COMP_LINE}
read -r -a COMP_WORDS <<<"$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
__start_kubectl
printf '%s\n' "${COMPREPLY[@]}"
`
	cmd := exec.CommandContext(t.Context(), bash, "--noprofile", "--norc", "-c", script, "bash", line)
	cmd.Env = []string{"PATH=" + path, "HOME=" + home, "KUBECONFIG=" + kubeconfig}
	r := execute(t, cmd)
	if r.code != 0 {
		t.Fatalf("completing %q: exit %d\nstdout:\n%s\nstderr:\n%s", line, r.code, r.stdout, r.stderr)
	}
	var reply []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			reply = append(reply, l)
		}
	}
	t.Logf("%q -> %q", line, reply)
	return reply
}

// kubectl's own bash completion completes `kubectl gitops <TAB>` through
// kubectl_complete-gitops on PATH: the plugin's commands and the names of
// the sync sets in the cluster.
func TestCompletionThroughKubectl(t *testing.T) {
	path := completionPath(t)

	if got := complete(t, path, "kubectl gitops sy"); !slices.Contains(got, "sync") {
		t.Fatalf("kubectl gitops sy<TAB>: COMPREPLY %q, want sync", got)
	}

	ns := namespace(t)
	repo := newRepo(t, map[string]string{"deploy/cm.yaml": configMap("completed", "one")})
	mustKubectl(t, "gitops", "sync", "--name", "tab-set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	if got := complete(t, path, "kubectl gitops sync -n "+ns+" --name "); !slices.Equal(got, []string{"tab-set"}) {
		t.Fatalf("kubectl gitops sync -n %s --name <TAB>: COMPREPLY %q, want [tab-set]", ns, got)
	}
}
