package e2e

import (
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
