package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watch on a terminal: when the head is skipped as bad, the block's error
// line says why instead of "error: none"; after the pane narrows, no line
// of the old block stays on screen.
func TestWatchDisplayAfterResizeAndABadHead(t *testing.T) {
	tmuxPath, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatalf("this test drives the terminal display under tmux, which is not installed: install it (apt-get install tmux): %v", err)
	}
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"a.yaml": configMap("a", "one")})

	dir := t.TempDir()
	script := filepath.Join(dir, "watch.sh")
	var b strings.Builder
	for _, kv := range []string{"PATH=" + binDir, "HOME=" + home, "KUBECONFIG=" + kubeconfig, "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "GIT_CONFIG_NOSYSTEM=1"} {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "%s=%q ", k, v)
	}
	fmt.Fprintf(&b, "%q gitops watch a-set-with-a-long-name-to-fill-the-line --repo %q -n %s --interval 1s\nexec sleep 600\n", filepath.Join(binDir, "kubectl"), repo.dir, ns)
	if err := os.WriteFile(script, []byte(b.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "tmux.sock")
	tmux := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tmuxPath, append([]string{"-S", socket}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TERM=xterm-256color"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", "watch", "-x", "120", "-y", "20", "sh "+script)
	t.Cleanup(func() { _ = exec.Command(tmuxPath, "-S", socket, "kill-server").Run() })
	history := func() []string {
		all := tmux("capture-pane", "-p", "-J", "-t", "watch", "-S", "-", "-E", "-")
		return strings.Split(strings.TrimRight(all, "\n"), "\n")
	}
	wait := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := strings.Join(history(), "\n")
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the pane does not show %s:\n%s", what, s)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	wait("the first sync", func(s string) bool { return strings.Contains(s, "last sync ") && strings.Contains(s, "1 created") })

	bad := repo.commit("bad", map[string]string{"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [not, a, map]\n"})
	s := wait("the bad head", func(s string) bool { return strings.Contains(s, "skipped (bad)") })
	if strings.Contains(s, "error: none") {
		t.Errorf("the header says the head %s was skipped as bad and the block says error: none:\n%s", bad[:12], s)
	}
	if !strings.Contains(s, "error: head "+bad[:12]+" skipped until the head moves: ") {
		t.Errorf("the block's error line does not say why the head was skipped:\n%s", s)
	}

	// Narrow the pane: the 119-column lines of the block wrap onto more
	// rows. After the next redraws, one block remains.
	tmux("resize-window", "-t", "watch", "-x", "50")
	time.Sleep(3 * time.Second)
	tmux("resize-window", "-t", "watch", "-x", "70")
	time.Sleep(3 * time.Second)
	lines := history()
	t.Logf("pane:\n%s", strings.Join(lines, "\n"))
	for _, want := range []string{"gitops watch a-set-with", "last sync ", "drift corrections: ", "error: head "} {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d lines start with %q after the resize, want 1: an old line of the block stayed", n, want)
		}
	}
}
