package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

// The lifecycle of sets (rollback, suspend and resume, dependencies) runs
// against its own control plane with the controllers, so that Deployments
// roll out or stay unavailable as in a real cluster.
func TestLifecycle(t *testing.T) {
	begin := time.Now()
	c := cluster.ForTest(t, cluster.Options{Controllers: true})
	t.Logf("control plane with controllers ready in %s", time.Since(begin).Round(time.Millisecond))
	env := &watchEnv{c: c, kube: kubernetes.NewForConfigOrDie(c.RESTConfig)}
	t.Run("RollbackSuspendsAndWatchWaitsForResume", func(t *testing.T) { testRollbackAndResume(t, env) })
	t.Run("DependenciesHoldTheDependent", func(t *testing.T) { testDependencies(t, env) })
}

// run runs kubectl on the cluster of e and returns what it did.
func (e *watchEnv) run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl"), args...)
	cmd.Env = e.environ()
	return execute(t, cmd)
}

// lifecycleStatus is the part of status -o json these tests read.
type lifecycleStatus struct {
	Record struct {
		LastSyncedRevision string
		Suspended          *struct{ By, Reason string }
		DependsOn          []string
		History            []struct {
			Revision string
			Outcome  string
			Rollback bool
		}
	}
}

func (e *watchEnv) status(t *testing.T, ns, name string) lifecycleStatus {
	t.Helper()
	var st lifecycleStatus
	out := e.run(t, "gitops", "status", "--name", name, "-n", ns, "-o", "json")
	if out.code != 0 {
		t.Fatalf("status: exit %d: %s", out.code, out.stderr)
	}
	if err := json.Unmarshal([]byte(out.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out.stdout)
	}
	return st
}

func (e *watchEnv) configMapGone(t *testing.T, ns, name string) bool {
	_, err := e.kube.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

// testRollbackAndResume: a bad revision is synced; rollback --steps 1
// restores the previous objects, prunes what the bad one added and
// suspends the set; sync refuses it and watch leaves it alone while the
// head moves; resume lets watch catch up.
func testRollbackAndResume(t *testing.T, e *watchEnv) {
	ns := e.namespace(t, "lifecycle-rollback")
	src := newRepo(t, map[string]string{"deploy/a.yaml": configMap("a", "one"), "deploy/b.yaml": configMap("b", "one")})
	good := src.git("rev-parse", "HEAD")
	// The good revision, then the bad one, from the head of main.
	e.kubectl(t, "gitops", "sync", "--name", "web", "-n", ns, "--repo", src.dir, "--path", "deploy", "--ref", "main")
	bad := src.commit("bad", map[string]string{"deploy/a.yaml": configMap("a", "bad"), "deploy/extra.yaml": configMap("extra", "bad")})
	e.kubectl(t, "gitops", "sync", "--name", "web", "-n", ns)
	if a := e.configMapValue(ns, "a"); a != "bad" || e.configMapGone(t, ns, "extra") {
		t.Fatalf("after the bad sync: a = %q, extra gone %v", a, e.configMapGone(t, ns, "extra"))
	}

	out := e.run(t, "gitops", "rollback", "--name", "web", "-n", ns, "--steps", "1")
	if out.code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", out.code, out.stdout, out.stderr)
	}
	if !strings.Contains(out.stdout, "@"+good) || !strings.Contains(out.stdout, "ConfigMap/"+ns+"/extra pruned") || !strings.Contains(out.stdout, "1 pruned") {
		t.Errorf("rollback output does not say it synced %s and pruned extra:\n%s", good, out.stdout)
	}
	if !strings.Contains(out.stderr, "sync set web is suspended (rolled back to "+good[:12]+")") {
		t.Errorf("rollback does not say the set is suspended: %q", out.stderr)
	}
	if a := e.configMapValue(ns, "a"); a != "one" || !e.configMapGone(t, ns, "extra") {
		t.Fatalf("after the rollback: a = %q (want one), extra gone %v (want true)", a, e.configMapGone(t, ns, "extra"))
	}
	st := e.status(t, ns, "web")
	sp := st.Record.Suspended
	if sp == nil || sp.By == "" || sp.Reason != "rolled back to "+good[:12]+" by "+sp.By {
		t.Fatalf("status records the suspension %+v; want it rolled back to %s by someone", sp, good[:12])
	}
	if h := st.Record.History; len(h) != 3 || !h[0].Rollback || h[0].Revision != good || h[1].Revision != bad || h[1].Rollback || st.Record.LastSyncedRevision != good {
		t.Errorf("history %+v: want the rollback to %s as the newest run", h, good[:12])
	}
	text := e.run(t, "gitops", "status", "--name", "web", "-n", ns).stdout
	if !strings.Contains(text, "Suspended:   yes, by "+sp.By) || !strings.Contains(text, "Succeeded (rollback)") {
		t.Errorf("status does not show the suspension and the rollback:\n%s", text)
	}

	// sync leaves the suspended set alone and says so.
	out = e.run(t, "gitops", "sync", "--name", "web", "-n", ns)
	if out.code != 1 || !strings.Contains(out.stderr, `sync set "web" is suspended`) || !strings.Contains(out.stderr, "kubectl gitops resume --name web") {
		t.Errorf("sync of the suspended set: exit %d, stderr %q", out.code, out.stderr)
	}

	// watch leaves it alone while the head moves, and catches up after resume.
	w := e.startWatch(t, "--name", "web", "-n", ns, "--interval", "2s", "--log-format", "json")
	ev := w.next(10*time.Second, "held event", isEvent("held", ""))
	if !strings.Contains(ev.Error, "suspended") || !strings.Contains(ev.Error, "rolled back to "+good[:12]) {
		t.Errorf("held event: %+v", ev)
	}
	head := src.commit("fixed", map[string]string{"deploy/a.yaml": configMap("a", "fixed"), "deploy/extra.yaml": ""})
	time.Sleep(5 * time.Second) // two intervals
	if a := e.configMapValue(ns, "a"); a != "one" {
		t.Fatalf("watch changed the suspended set: a = %q", a)
	}
	if n := strings.Count(w.output(), `"event":"held"`); n != 1 {
		t.Errorf("watch said %d times that the set is held, want once:\n%s", n, w.output())
	}
	e.kubectl(t, "gitops", "resume", "web", "-n", ns) // the name as the argument
	w.next(10*time.Second, "unheld event", isEvent("unheld", ""))
	w.next(10*time.Second, "sync of the head after resume", isEvent("synced", head))
	if a := e.configMapValue(ns, "a"); a != "fixed" {
		t.Errorf("after resume, a = %q, want fixed", a)
	}
	w.interrupt(syscall.SIGINT)
	if st := e.status(t, ns, "web"); st.Record.Suspended != nil || st.Record.LastSyncedRevision != head {
		t.Errorf("after resume: %+v", st.Record)
	}

	// suspend by hand: who, when, why; once; sync --force syncs and keeps it.
	out = e.run(t, "gitops", "suspend", "--name", "web", "-n", ns, "-m", "incident 4711")
	if out.code != 0 || !strings.Contains(out.stdout, "sync set web suspended by "+sp.By+" at ") || !strings.HasSuffix(out.stdout, ": incident 4711\n") {
		t.Errorf("suspend: exit %d, stdout %q, stderr %q", out.code, out.stdout, out.stderr)
	}
	t.Logf("suspend: %s", strings.TrimSpace(out.stdout))
	out = e.run(t, "gitops", "suspend", "--name", "web", "-n", ns, "-m", "another")
	if out.code != 0 || !strings.Contains(out.stdout, "was already suspended") || !strings.Contains(out.stdout, "incident 4711") {
		t.Errorf("suspend again: exit %d, stdout %q", out.code, out.stdout)
	}
	e.kubectl(t, "delete", "configmap", "b", "-n", ns)
	out = e.run(t, "gitops", "sync", "--name", "web", "-n", ns, "--force")
	if out.code != 0 || e.configMapGone(t, ns, "b") {
		t.Errorf("sync --force of the suspended set: exit %d, b gone %v\n%s", out.code, e.configMapGone(t, ns, "b"), out.stderr)
	}
	if st := e.status(t, ns, "web"); st.Record.Suspended == nil || st.Record.Suspended.Reason != "incident 4711" {
		t.Errorf("after sync --force the suspension is %+v, want it kept", st.Record.Suspended)
	}
	if out := e.run(t, "gitops", "resume", "--name", "web", "-n", ns); out.code != 0 || out.stdout != "sync set web resumed: watch and sync sync it again\n" {
		t.Errorf("resume: exit %d, stdout %q", out.code, out.stdout)
	}
	if out := e.run(t, "gitops", "resume", "--name", "web", "-n", ns, "-o", "json"); out.code != 0 || !strings.Contains(out.stdout, `"changed": false`) || strings.Contains(out.stdout, "suspended") {
		t.Errorf("resume again -o json: exit %d, stdout %q", out.code, out.stdout)
	}
}

// unavailable is a Deployment that never becomes available: no node has
// the label it asks for.
func unavailable(name string) string {
	return strings.Replace(webDeployment(), "name: web", "name: "+name, 1) + "      nodeSelector: {no-such-label: x}\n"
}

// testDependencies: a set that depends on another is refused while the
// dependency is not synced or not healthy, waited for by watch, then
// synced; a cycle is refused.
func testDependencies(t *testing.T, e *watchEnv) {
	ns := e.namespace(t, "lifecycle-deps")
	src := newRepo(t, map[string]string{
		"db/db.yaml":   unavailable("db"),
		"app/app.yaml": configMap("app-config", "one"), // not "app": the set's own parent
	})
	syncApp := func() result {
		return e.run(t, "gitops", "sync", "--name", "app", "-n", ns, "--repo", src.dir, "--path", "app", "--depends-on", "db")
	}

	out := syncApp()
	if out.code != 1 || !strings.Contains(out.stderr, `sync set "app" depends on "db", which is not ready: it has never been synced`) {
		t.Fatalf("sync before the dependency: exit %d, stderr %q", out.code, out.stderr)
	}
	if !e.configMapGone(t, ns, "app-config") {
		t.Fatal("the dependent was synced before its dependency")
	}

	e.kubectl(t, "gitops", "sync", "--name", "db", "-n", ns, "--repo", src.dir, "--path", "db")
	out = syncApp()
	if out.code != 1 || !strings.Contains(out.stderr, `depends on "db", which is not ready: synced at revision`) || !strings.Contains(out.stderr, "Deployment/"+ns+"/db is InProgress") {
		t.Fatalf("sync with the dependency not healthy: exit %d, stderr %q", out.code, out.stderr)
	}

	// watch waits for the dependency, and syncs once it is healthy.
	w := e.startWatch(t, "--name", "app", "-n", ns, "--repo", src.dir, "--path", "app", "--depends-on", "db", "--interval", "2s", "--log-format", "json")
	ev := w.next(10*time.Second, "held event", isEvent("held", ""))
	if !strings.Contains(ev.Error, `depends on "db"`) {
		t.Errorf("held event: %+v", ev)
	}
	if !e.configMapGone(t, ns, "app-config") {
		t.Fatal("watch synced the dependent before its dependency was healthy")
	}
	src.commit("schedulable", map[string]string{"db/db.yaml": strings.Replace(unavailable("db"), "      nodeSelector: {no-such-label: x}\n", "", 1)})
	e.kubectl(t, "gitops", "sync", "--name", "db", "-n", ns, "--wait", "--timeout", "60s")
	w.next(10*time.Second, "sync of the dependent", isEvent("synced", ""))
	if e.configMapGone(t, ns, "app-config") {
		t.Fatal("the dependent is not synced after its dependency became healthy")
	}
	w.interrupt(syscall.SIGINT)
	if st := e.status(t, ns, "app"); fmt.Sprint(st.Record.DependsOn) != "[db]" {
		t.Errorf("app records the dependencies %v, want [db]", st.Record.DependsOn)
	}
	if text := e.run(t, "gitops", "status", "--name", "app", "-n", ns).stdout; !strings.Contains(text, "Depends on:  db") {
		t.Errorf("status does not show the dependency:\n%s", text)
	}

	// A cycle, found through app's record, is refused.
	out = e.run(t, "gitops", "sync", "--name", "db", "-n", ns, "--depends-on", "app")
	if out.code != 1 || !strings.Contains(out.stderr, "form a cycle, db -> app -> db") {
		t.Errorf("sync that makes a cycle: exit %d, stderr %q", out.code, out.stderr)
	}
}
