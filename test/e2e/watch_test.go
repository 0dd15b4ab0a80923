package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

// The watch tests run against their own control plane with the controllers
// (kube-controller-manager, kube-scheduler, kwok), so that Deployments roll
// out, and so that kube-apiserver can be stopped and started without
// disturbing the other tests. They share it, one after another.
func TestWatch(t *testing.T) {
	begin := time.Now()
	c := cluster.ForTest(t, cluster.Options{Controllers: true})
	t.Logf("control plane with controllers ready in %s", time.Since(begin).Round(time.Millisecond))
	env := &watchEnv{c: c, kube: kubernetes.NewForConfigOrDie(c.RESTConfig)}
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *watchEnv)
	}{
		{"KeepsTheClusterEqualToGitThroughFaults", testWatchLoop},
		{"OneWatcherPerSet", testWatchLease},
		{"TerminalStatusUnderTmux", testWatchTerminal},
		{"RunsImageAutomation", testWatchImages},
	} {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			tc.run(t, env)
			t.Logf("%s took %s", tc.name, time.Since(begin).Round(time.Millisecond))
		})
	}
}

type watchEnv struct {
	c    *cluster.Cluster
	kube kubernetes.Interface
}

// environ is the isolated environment of the plugin, on the watch cluster.
func (e *watchEnv) environ() []string {
	return []string{
		"PATH=" + binDir,
		"HOME=" + home,
		"KUBECONFIG=" + e.c.Kubeconfig,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"GIT_CONFIG_NOSYSTEM=1",
	}
}

// kubectl runs kubectl on the watch cluster and fails the test unless it
// exits 0.
func (e *watchEnv) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl"), args...)
	cmd.Env = e.environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// namespace creates a namespace for the test in the watch cluster.
func (e *watchEnv) namespace(t *testing.T, name string) string {
	t.Helper()
	e.kubectl(t, "create", "namespace", name)
	return name
}

// remote is a bare repository served over file://, and a work tree that
// pushes to it.
type remote struct {
	work *repo
	bare string
	url  string
}

func newRemote(t *testing.T, files map[string]string) *remote {
	t.Helper()
	work := newRepo(t, files)
	bare := filepath.Join(t.TempDir(), "remote.git")
	work.git("clone", "-q", "--bare", work.dir, bare)
	return &remote{work: work, bare: bare, url: "file://" + bare}
}

// push commits files and pushes them, returning the new revision.
func (r *remote) push(msg string, files map[string]string) string {
	rev := r.work.commit(msg, files)
	r.work.git("push", "-q", r.bare, "main")
	return rev
}

// watchEvent is a line of `watch --log-format json`.
type watchEvent struct {
	Event    string
	Step     string
	Revision string
	Previous string
	Changes  []string
	Error    string
	Holder   string
	Message  string
	Counts   *struct{ Created, Configured, Unchanged, Pruned, Failed int }
}

// watcher is `kubectl gitops watch` running in the background.
type watcher struct {
	t     *testing.T
	cmd   *exec.Cmd
	start time.Time

	mu     sync.Mutex
	lines  []string
	cursor int // lines before it were matched by next
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

// startWatch runs kubectl gitops watch with args.
func (e *watchEnv) startWatch(t *testing.T, args ...string) *watcher {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kubectl"), append([]string{"gitops", "watch"}, args...)...)
	cmd.Env = e.environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &w.mu, w: &w.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.start = time.Now()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
		}
		w.err = cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			_ = cmd.Process.Kill()
			<-w.done
		}
		if t.Failed() {
			t.Logf("watch (pid %d) stdout:\n%s\nstderr:\n%s", cmd.Process.Pid, w.output(), w.errOutput())
		}
	})
	return w
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (w *watcher) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

func (w *watcher) errOutput() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.String()
}

// nextLine waits up to timeout for a line after the cursor that match
// accepts, moves the cursor past it and returns it.
func (w *watcher) nextLine(timeout time.Duration, what string, match func(string) bool) string {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		for i := w.cursor; i < len(w.lines); i++ {
			if match(w.lines[i]) {
				w.cursor = i + 1
				line := w.lines[i]
				w.mu.Unlock()
				return line
			}
		}
		w.mu.Unlock()
		select {
		case <-w.done:
			w.t.Fatalf("watch exited (%v) before %s", w.err, what)
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no %s within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// next waits for a JSON event after the cursor that match accepts.
func (w *watcher) next(timeout time.Duration, what string, match func(watchEvent) bool) watchEvent {
	w.t.Helper()
	var got watchEvent
	w.nextLine(timeout, what, func(line string) bool {
		var e watchEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			w.t.Fatalf("watch printed a line that is not JSON: %q", line)
		}
		if match(e) {
			got = e
			return true
		}
		return false
	})
	return got
}

// interrupt sends sig (SIGINT as Ctrl-C does, or SIGTERM) and checks that
// watch exits 0 within 5 seconds.
func (w *watcher) interrupt(sig syscall.Signal) {
	w.t.Helper()
	begin := time.Now()
	if err := w.cmd.Process.Signal(sig); err != nil {
		w.t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		w.t.Fatalf("watch did not exit within 5s of %s", sig)
	}
	if w.err != nil {
		w.t.Fatalf("watch exited with %v after %s, want status 0", w.err, sig)
	}
	w.t.Logf("watch exited 0 in %s after %s", time.Since(begin).Round(time.Millisecond), sig)
}

// eventually polls check until it returns "" or timeout passes.
func eventually(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func webDeployment() string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: busybox:1.36
        command: [sleep, infinity]
`
}

func (e *watchEnv) configMapValue(ns, name string) string {
	cm, err := e.kube.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return cm.Data["value"]
}

func (e *watchEnv) deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := e.kube.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func isEvent(typ, rev string) func(watchEvent) bool {
	return func(e watchEvent) bool { return e.Event == typ && (rev == "" || e.Revision == rev) }
}

func changed(e watchEvent, what string) bool {
	for _, c := range e.Changes {
		if c == what {
			return true
		}
	}
	return false
}

// testWatchLoop runs one watcher through a life: commits, drift, a bad
// revision, a remote that disappears and kube-apiserver stopping, and
// Ctrl-C at the end.
func testWatchLoop(t *testing.T, e *watchEnv) {
	ns := e.namespace(t, "watch-loop")
	src := newRemote(t, map[string]string{
		"deploy/a.yaml":   configMap("a", "one"),
		"deploy/b.yaml":   configMap("b", "one"),
		"deploy/web.yaml": webDeployment(),
	})
	rev1 := src.work.git("rev-parse", "HEAD")
	w := e.startWatch(t, "--name", "set", "--repo", src.url, "--ref", "main", "--path", "deploy", "-n", ns, "--interval", "2s", "--log-format", "json")
	step := func(name string) func() {
		begin := time.Now()
		return func() { t.Logf("%s: %s", name, time.Since(begin).Round(time.Millisecond)) }
	}

	// The first sync applies the head; the Deployment rolls out on kwok.
	done := step("first sync")
	ev := w.next(10*time.Second, "first sync", isEvent("synced", rev1))
	if ev.Counts == nil || ev.Counts.Created != 3 {
		t.Fatalf("first sync: %+v", ev)
	}
	done()
	eventually(t, 30*time.Second, func() string {
		if d := e.deployment(t, ns, "web"); d.Status.AvailableReplicas != 1 {
			return fmt.Sprintf("deployment web has %d available replicas, want 1", d.Status.AvailableReplicas)
		}
		return ""
	})

	// A pushed commit reaches the cluster within an interval.
	done = step("pushed commit")
	rev2 := src.push("two", map[string]string{"deploy/a.yaml": configMap("a", "two")})
	w.next(6*time.Second, "sync of the pushed commit "+rev2, isEvent("synced", rev2))
	if got := e.configMapValue(ns, "a"); got != "two" {
		t.Fatalf("configmap a = %q after the sync of %s", got, rev2)
	}
	done()

	// Drift: a deleted object and fields edited by hand are restored, the
	// replicas that kubectl scale took over included.
	done = step("drift")
	e.kubectl(t, "delete", "configmap", "a", "-n", ns)
	e.kubectl(t, "patch", "configmap", "b", "-n", ns, "--type", "merge", "-p", `{"data":{"value":"by-hand"}}`)
	e.kubectl(t, "scale", "deployment", "web", "-n", ns, "--replicas", "3")
	want := map[string]bool{
		"ConfigMap/" + ns + "/a created":       true,
		"ConfigMap/" + ns + "/b configured":    true,
		"Deployment/" + ns + "/web configured": true,
	}
	for len(want) > 0 {
		ev := w.next(6*time.Second, fmt.Sprintf("corrections of %v", want), isEvent("corrected", rev2))
		for _, c := range ev.Changes {
			delete(want, c)
		}
	}
	if a, b := e.configMapValue(ns, "a"), e.configMapValue(ns, "b"); a != "two" || b != "one" {
		t.Errorf("after the corrections, a = %q and b = %q, want two and one", a, b)
	}
	if r := e.deployment(t, ns, "web").Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("after the correction, deployment web has %v replicas, want 1", r)
	}
	done()

	// A bad revision is reported and skipped; the cluster stays at the last
	// good revision and is still corrected; the next good commit applies.
	done = step("bad revision")
	rev3 := src.push("broken", map[string]string{
		"deploy/a.yaml":   configMap("a", "three"),
		"deploy/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  a: [1, 2\n",
	})
	ev = w.next(6*time.Second, "bad revision "+rev3, isEvent("bad-revision", rev3))
	if !strings.Contains(ev.Error, "bad.yaml") {
		t.Errorf("the bad revision's error does not name the file: %q", ev.Error)
	}
	e.kubectl(t, "delete", "configmap", "b", "-n", ns)
	ev = w.next(6*time.Second, "correction at the last good revision", isEvent("corrected", rev2))
	if !changed(ev, "ConfigMap/"+ns+"/b created") {
		t.Errorf("correction: %+v", ev)
	}
	if got := e.configMapValue(ns, "a"); got != "two" {
		t.Errorf("configmap a = %q while the head is bad, want the last good value two", got)
	}
	// A kind the cluster does not know is a bad revision too, once fresh
	// discovery confirms it.
	rev3b := src.push("unknown kind", map[string]string{
		"deploy/bad.yaml": "apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\n",
	})
	ev = w.next(6*time.Second, "bad revision "+rev3b, isEvent("bad-revision", rev3b))
	if !strings.Contains(ev.Error, "bad.yaml:1") || !strings.Contains(ev.Error, "unknown kind Gizmo") {
		t.Errorf("the unknown kind's error: %q", ev.Error)
	}
	rev4 := src.push("fixed", map[string]string{"deploy/bad.yaml": ""})
	w.next(6*time.Second, "sync of the fixed commit", isEvent("synced", rev4))
	if got := e.configMapValue(ns, "a"); got != "three" {
		t.Errorf("configmap a = %q after the fix, want three", got)
	}
	done()

	// The git remote disappears: fetches fail and are retried, drift is
	// still corrected from the last fetch; the remote returns.
	done = step("remote gone and back")
	if err := os.Rename(src.bare, src.bare+".away"); err != nil {
		t.Fatal(err)
	}
	ev = w.next(6*time.Second, "a failed fetch", func(e watchEvent) bool { return e.Event == "failed" && e.Step == "fetch" })
	t.Logf("with the remote gone: %s", ev.Error)
	e.kubectl(t, "delete", "configmap", "a", "-n", ns)
	w.next(6*time.Second, "a correction while the remote is gone", isEvent("corrected", rev4))
	if err := os.Rename(src.bare+".away", src.bare); err != nil {
		t.Fatal(err)
	}
	rev5 := src.push("four", map[string]string{"deploy/a.yaml": configMap("a", "four")})
	w.next(6*time.Second, "sync once the remote is back", isEvent("synced", rev5))
	done()

	// kube-apiserver stops mid-loop: syncs fail and are retried; a commit
	// pushed meanwhile is applied once it is back.
	done = step("kube-apiserver stopped and started")
	if err := e.c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	ev = w.next(6*time.Second, "a failed sync with kube-apiserver stopped", func(e watchEvent) bool { return e.Event == "failed" && e.Step == "sync" })
	t.Logf("with kube-apiserver stopped: %s", ev.Error)
	rev6 := src.push("five", map[string]string{"deploy/a.yaml": configMap("a", "five")})
	time.Sleep(2 * time.Second) // a few more retries
	if err := e.c.StartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.next(10*time.Second, "sync once kube-apiserver is back", isEvent("synced", rev6))
	if got := e.configMapValue(ns, "a"); got != "five" {
		t.Errorf("configmap a = %q after kube-apiserver came back, want five", got)
	}
	done()

	// Ctrl-C: exit 0 within 5s, the Lease released.
	w.interrupt(syscall.SIGINT)
	w.next(time.Second, "lease release", isEvent("released", ""))
	_, err := e.kube.CoordinationV1().Leases(ns).Get(t.Context(), "gitops-watch-set", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the lease is still there after the watch stopped: %v", err)
	}
	if strings.TrimSpace(w.errOutput()) != "" {
		t.Errorf("watch wrote on stderr: %s", w.errOutput())
	}
}

// testWatchLease starts a second watcher on a set: it names the holder,
// waits, and takes over when the first stops.
func testWatchLease(t *testing.T, e *watchEnv) {
	ns := e.namespace(t, "watch-lease")
	src := newRemote(t, map[string]string{"a.yaml": configMap("a", "one")})
	args := []string{"--name", "set", "--repo", src.url, "-n", ns, "--interval", "2s"}
	first := e.startWatch(t, append(args, "--log-format", "json")...)
	first.next(10*time.Second, "the first watcher's sync", isEvent("synced", ""))

	second := e.startWatch(t, args...) // text, to a pipe: plain lines
	holder := fmt.Sprintf("/%d", first.cmd.Process.Pid)
	line := second.nextLine(10*time.Second, "the second watcher naming the holder", func(l string) bool {
		return strings.Contains(l, "the lease is held by ") && strings.Contains(l, holder+":")
	})
	if ts, _, _ := strings.Cut(line, " "); !isTimestamp(ts) {
		t.Errorf("a plain log line without a timestamp: %q", line)
	}
	time.Sleep(3 * time.Second) // more than an interval
	if out := second.output(); strings.Contains(out, "synced") || strings.Contains(out, "\x1b") {
		t.Fatalf("the second watcher synced without the lease, or wrote escapes:\n%s", out)
	}

	first.interrupt(syscall.SIGINT)
	begin := time.Now()
	second.nextLine(5*time.Second, "the second watcher taking the lease", func(l string) bool {
		return strings.Contains(l, "took the lease as ") && strings.Contains(l, fmt.Sprintf("/%d", second.cmd.Process.Pid))
	})
	second.nextLine(5*time.Second, "the second watcher's sync", func(l string) bool { return strings.Contains(l, " synced ") })
	t.Logf("the second watcher took over %s after the first stopped", time.Since(begin).Round(time.Millisecond))
	lease, err := e.kube.CoordinationV1().Leases(ns).Get(t.Context(), "gitops-watch-set", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || !strings.HasSuffix(*lease.Spec.HolderIdentity, fmt.Sprintf("/%d", second.cmd.Process.Pid)) {
		t.Fatalf("lease after the takeover: %+v, %v", lease, err)
	}
	second.interrupt(syscall.SIGTERM)
}

func isTimestamp(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// testWatchTerminal runs watch in a small tmux pane and reads the screen:
// the status block shows the short sha and the counts, in place, and
// Ctrl-C typed in the pane exits 0.
func testWatchTerminal(t *testing.T, e *watchEnv) {
	tmuxPath, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatalf("this test drives the terminal display under tmux, which is not installed: install it (apt-get install tmux): %v", err)
	}
	ns := e.namespace(t, "watch-tty")
	src := newRemote(t, map[string]string{"a.yaml": configMap("a", "one"), "b.yaml": configMap("b", "one")})
	rev := src.work.git("rev-parse", "HEAD")

	dir := t.TempDir()
	script := filepath.Join(dir, "watch.sh")
	var b strings.Builder
	b.WriteString("trap true INT\n") // the shell outlives Ctrl-C to print the status
	for _, kv := range e.environ() {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "%s=%q ", k, v)
	}
	fmt.Fprintf(&b, "%q gitops watch --name set --repo %q -n %s --interval 2s\n", filepath.Join(binDir, "kubectl"), src.url, ns)
	b.WriteString("echo \"watch exited with status $?\"\nexec sleep 600\n")
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
	tmux("new-session", "-d", "-s", "watch", "-x", "80", "-y", "15", "sh "+script)
	t.Cleanup(func() { _ = exec.Command(tmuxPath, "-S", socket, "kill-server").Run() })
	screen := func() string { return tmux("capture-pane", "-p", "-t", "watch") }
	waitScreen := func(timeout time.Duration, what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			s := screen()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the pane does not show %s after %s:\n%s", what, timeout, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	header := "gitops watch set @ " + rev[:12]
	s := waitScreen(15*time.Second, "the status block after the first sync", func(s string) bool {
		return strings.Contains(s, header) && strings.Contains(s, "last sync ")
	})
	if !strings.Contains(s, "2 created 0 configured 0 unchanged 0 pruned") && !strings.Contains(s, "0 created 0 configured 2 unchanged 0 pruned") {
		t.Errorf("the status block shows no counts:\n%s", s)
	}

	e.kubectl(t, "delete", "configmap", "a", "-n", ns)
	waitScreen(6*time.Second, "the correction", func(s string) bool {
		return strings.Contains(s, "corrected drift from "+rev[:12]+": ConfigMap/"+ns+"/a created") && strings.Contains(s, "drift corrections: 1")
	})
	time.Sleep(5 * time.Second) // more drift checks, each redrawing the block

	// The whole history of the pane, scrolled off or not, holds one block.
	all := tmux("capture-pane", "-p", "-t", "watch", "-S", "-", "-E", "-")
	t.Logf("pane:\n%s", all)
	lines := strings.Split(strings.TrimRight(all, "\n"), "\n")
	for _, want := range []string{header, "last sync ", "drift corrections: ", "error: none"} {
		if n := countLines(lines, want); n != 1 {
			t.Errorf("%d lines hold %q, want 1: the status block is not redrawn in place", n, want)
		}
	}
	if len(lines) > 15 {
		t.Errorf("the pane scrolled: %d lines of history", len(lines))
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("a line wider than the pane: %q", l)
		}
	}

	// Ctrl-C in the pane.
	begin := time.Now()
	tmux("send-keys", "-t", "watch", "C-c")
	s = waitScreen(5*time.Second, "the watch exiting", func(s string) bool { return strings.Contains(s, "watch exited with status") })
	if !strings.Contains(s, "watch exited with status 0") {
		t.Fatalf("Ctrl-C:\n%s", s)
	}
	t.Logf("exited %s after Ctrl-C", time.Since(begin).Round(time.Millisecond))
	if !strings.Contains(s, "released the lease") {
		t.Errorf("no release on Ctrl-C:\n%s", s)
	}
}

func countLines(lines []string, substr string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// testWatchImages runs image automation inside watch: the newer tag is
// committed and pushed to the remote, then synced into the cluster.
func testWatchImages(t *testing.T, e *watchEnv) {
	ns := e.namespace(t, "watch-images")
	reg := newRegistry(t)
	reg.push("demo/web", "1.0.0", time.Now().Add(-time.Hour))
	reg.push("demo/web", "1.1.0", time.Now())
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Watcher\n\temail = watcher@example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	web := strings.ReplaceAll(deploymentYAML("web", "  annotations:\n    fluxcd.io/automated: \"true\"\n", reg.host+"/demo/web:1.0.0"), "namespace: demo", "namespace: "+ns)
	src := newRemote(t, map[string]string{"web.yaml": web})
	w := e.startWatch(t, "--name", "set", "--repo", src.url, "-n", ns, "--interval", "2s", "--images", "--images-interval", "2s", "--log-format", "json")
	ev := w.next(30*time.Second, "an image automation commit", isEvent("images", ""))
	w.next(15*time.Second, "the sync of the automation commit", isEvent("synced", ev.Revision))
	if d := e.deployment(t, ns, "web"); d.Spec.Template.Spec.Containers[0].Image != reg.host+"/demo/web:1.1.0" {
		t.Fatalf("the cluster runs %s after image automation", d.Spec.Template.Spec.Containers[0].Image)
	}
	out, err := exec.Command("git", "--git-dir", src.bare, "log", "-1", "--format=%H %s", "main").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), ev.Revision+" Auto-release "+reg.host+"/demo/web:1.1.0") {
		t.Fatalf("remote head: %v %s (want %s)", err, out, ev.Revision)
	}
	w.interrupt(syscall.SIGINT)
}
