package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

// The ownership rules of a sync set, through the built plugin: a sync never
// takes over what it does not own unless told to, never applies an
// ApplySet's parent, holds ownership when two syncs race, and never prunes a
// set down to nothing by accident.

// snapshot is what a test checks did not change: an object's uid,
// resourceVersion and part-of label, or that it does not exist.
type snapshot struct {
	exists      bool
	uid, rv     string
	partOf      string
	terminating bool
}

func namespaceState(t *testing.T, name string) snapshot {
	t.Helper()
	ns, err := kube.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return snapshot{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{exists: true, uid: string(ns.UID), rv: ns.ResourceVersion, partOf: ns.Labels[applyset.LabelPartOf], terminating: ns.DeletionTimestamp != nil}
}

func configMapState(t *testing.T, ns, name string) snapshot {
	t.Helper()
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return snapshot{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{exists: true, uid: string(cm.UID), rv: cm.ResourceVersion, partOf: cm.Labels[applyset.LabelPartOf], terminating: cm.DeletionTimestamp != nil}
}

func namespaceManifest(name string) string {
	return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n"
}

func configMapIn(ns, name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\ndata:\n  value: " + value + "\n"
}

func setID(name, ns string) string { return applyset.ID(name, ns, applyset.ParentKind, "") }

// TestSecurityAdoptionNeedsAdopt: a Namespace and a ConfigMap made by hand
// with kubectl are in the repository. The sync is refused before any write,
// naming them and their field manager, and saying what to do; --adopt then
// takes them over, keeping their uid.
func TestSecurityAdoptionNeedsAdopt(t *testing.T) {
	ns := namespace(t)
	hand := ns + "-hand"
	mustKubectl(t, "create", "namespace", hand)
	mustKubectl(t, "create", "configmap", "by-hand", "-n", hand, "--from-literal=value=one")
	beforeNS, beforeCM := namespaceState(t, hand), configMapState(t, hand, "by-hand")

	repo := newRepo(t, map[string]string{
		"deploy/ns.yaml":      namespaceManifest(hand),
		"deploy/by-hand.yaml": configMapIn(hand, "by-hand", "one"),
		"deploy/new.yaml":     configMapIn(hand, "new", "one"),
		"deploy/fresh.yaml":   configMap("fresh", "one"),
	})
	sync := []string{"gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns}
	r := kubectl(t, sync...)
	if r.code == 0 {
		t.Fatalf("the sync adopted objects made by hand:\n%s", r.stdout)
	}
	for _, want := range []string{"Namespace/" + hand, "ConfigMap/" + hand + "/by-hand", "kubectl-create", "--adopt", "deploy/by-hand.yaml"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r.stderr)
		}
	}
	// Nothing was written: not the objects made by hand, not the others of
	// the sync, not the parent.
	if got := namespaceState(t, hand); got != beforeNS {
		t.Errorf("namespace %s changed: %+v, was %+v", hand, got, beforeNS)
	}
	if got := configMapState(t, hand, "by-hand"); got != beforeCM {
		t.Errorf("configmap by-hand changed: %+v, was %+v", got, beforeCM)
	}
	for _, o := range [][2]string{{hand, "new"}, {ns, "fresh"}, {ns, "set"}} {
		if got := configMapState(t, o[0], o[1]); got.exists {
			t.Errorf("configmap %s/%s was created by a refused sync", o[0], o[1])
		}
	}
	// diff says the same, and changes nothing either.
	d := kubectl(t, "gitops", "diff", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	if d.code != 2 || !strings.Contains(d.stderr, "--adopt") {
		t.Errorf("diff: exit %d, want 2 and the refusal\n%s%s", d.code, d.stdout, d.stderr)
	}

	r = mustKubectl(t, append(sync, "--adopt")...)
	if !strings.Contains(r.stdout, "ConfigMap/"+hand+"/by-hand configured (taken over into the set)") {
		t.Errorf("--adopt output:\n%s", r.stdout)
	}
	id := setID("set", ns)
	if got := namespaceState(t, hand); got.uid != beforeNS.uid || got.partOf != id {
		t.Errorf("namespace %s after --adopt: %+v, want uid %s and part-of %s", hand, got, beforeNS.uid, id)
	}
	if got := configMapState(t, hand, "by-hand"); got.uid != beforeCM.uid || got.partOf != id {
		t.Errorf("configmap by-hand after --adopt: %+v, want uid %s and part-of %s", got, beforeCM.uid, id)
	}
	// Members now: no --adopt needed any more.
	mustKubectl(t, sync...)
}

// TestSecurityApplySetParentsAreRefused: a repository that holds another
// set's parent, a copy of it, or this set's own parent is refused before any
// write, --adopt or not.
func TestSecurityApplySetParentsAreRefused(t *testing.T) {
	ns := namespace(t)
	other := newRepo(t, map[string]string{"o.yaml": configMap("o", "one")})
	mustKubectl(t, "gitops", "sync", "--name", "other", "--repo", other.dir, "-n", ns)
	parent := configMapState(t, ns, "other")
	copied := mustKubectl(t, "get", "configmap", "other", "-n", ns, "-o", "yaml").stdout

	for name, manifest := range map[string]string{
		"another set's parent, by name":  configMap("other", "mine"),
		"a copy of another set's parent": strings.Replace(copied, "name: other", "name: copy", 1),
		"this set's own parent":          configMap("mine", "x"),
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			repo := newRepo(t, map[string]string{"p.yaml": manifest, "new.yaml": configMap("new", "one")})
			for _, flags := range [][]string{nil, {"--adopt", "--force-conflicts"}} {
				r := kubectl(t, append([]string{"gitops", "sync", "--name", "mine", "--repo", repo.dir, "-n", ns}, flags...)...)
				if r.code == 0 || !strings.Contains(r.stderr, "p.yaml") || !strings.Contains(r.stderr, "parent of an ApplySet") {
					t.Fatalf("sync %v: exit %d, want a refusal naming p.yaml\nstdout:\n%s\nstderr:\n%s", flags, r.code, r.stdout, r.stderr)
				}
			}
			for _, cm := range []string{"new", "mine", "copy"} {
				if configMapState(t, ns, cm).exists {
					t.Errorf("configmap %s was created by a refused sync", cm)
				}
			}
			if got := configMapState(t, ns, "other"); got != parent {
				t.Errorf("the other set's parent changed: %+v, was %+v", got, parent)
			}
		})
	}
}

// started is a command running in the background.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startKubectl(t *testing.T, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl"), args...)}
	s.cmd.Env = []string{"PATH=" + binDir, "HOME=" + home, "KUBECONFIG=" + kubeconfig, "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "GIT_CONFIG_NOSYSTEM=1"}
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *started) wait() int {
	if err := s.cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		return -1
	}
	return 0
}

// TestSecurityTwoSyncsRacingForOneObject starts two plugin processes at
// once, syncing two sets that both hold the same ConfigMap (the same data,
// and --force-conflicts, as watch uses): one set must own it, the other must
// fail naming that set, and no version of the object the API server stored
// may carry the loser's label. Several rounds, a new object each.
func TestSecurityTwoSyncsRacingForOneObject(t *testing.T) {
	ns := namespace(t)
	repos := map[string]*repo{
		"race-a": newRepo(t, map[string]string{"own.yaml": configMap("own-a", "a")}),
		"race-b": newRepo(t, map[string]string{"own.yaml": configMap("own-b", "b")}),
	}
	wins := map[string]int{}
	for round := range 5 {
		shared := fmt.Sprintf("shared-%d", round)
		for _, r := range repos {
			r.commit(shared, map[string]string{"shared.yaml": configMap(shared, "same")})
		}
		w, err := kube.CoreV1().ConfigMaps(ns).Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=" + shared})
		if err != nil {
			t.Fatal(err)
		}
		procs := map[string]*started{}
		for name, r := range repos {
			procs[name] = startKubectl(t, "gitops", "sync", "--name", name, "--repo", r.dir, "-n", ns, "--force-conflicts")
		}
		codes := map[string]int{}
		for name, p := range procs {
			codes[name] = p.wait()
		}
		var winners, losers []string
		for name, code := range codes {
			if code == 0 {
				winners = append(winners, name)
			} else {
				losers = append(losers, name)
			}
		}
		if len(winners) != 1 || len(losers) != 1 {
			for name, p := range procs {
				t.Logf("%s: exit %d\n%s%s", name, codes[name], p.stdout.String(), p.stderr.String())
			}
			t.Fatalf("round %d: %d syncs succeeded and %d failed, want exactly one of each", round, len(winners), len(losers))
		}
		winner, loser := winners[0], losers[0]
		wins[winner]++
		out := procs[loser].stdout.String() + procs[loser].stderr.String()
		if !strings.Contains(out, fmt.Sprintf("%q", winner)) || !strings.Contains(out, shared) {
			t.Errorf("round %d: the loser %s does not name %s and its owner %s:\n%s", round, loser, shared, winner, out)
		}
		if got := configMapState(t, ns, shared); got.partOf != setID(winner, ns) {
			t.Fatalf("round %d: %s is labelled %q, want the winner %s", round, shared, got.partOf, winner)
		}
		deadline := time.After(500 * time.Millisecond)
	events:
		for {
			select {
			case ev := <-w.ResultChan():
				if cm, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type != watch.Deleted {
					if v := cm.Labels[applyset.LabelPartOf]; v != setID(winner, ns) {
						t.Fatalf("round %d: version %s of %s was labelled %q, not the winner %s's", round, cm.ResourceVersion, shared, v, winner)
					}
				}
			case <-deadline:
				break events
			}
		}
		w.Stop()
	}
	t.Logf("wins: %v", wins)
}

// TestSecurityEmptyRevisionIsNotSyncedUnlessAllowed: a commit that leaves
// the path without objects (a README only, an empty kustomization) would
// prune the whole set, namespaces and all: refused without --allow-empty.
func TestSecurityEmptyRevisionIsNotSyncedUnlessAllowed(t *testing.T) {
	ns := namespace(t)
	app := ns + "-app"
	repo := newRepo(t, map[string]string{
		"deploy/ns.yaml": namespaceManifest(app),
		"deploy/a.yaml":  configMapIn(app, "a", "one"),
		"deploy/b.yaml":  configMap("b", "one"),
	})
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	before := map[string]snapshot{"ns": namespaceState(t, app), "a": configMapState(t, app, "a"), "b": configMapState(t, ns, "b"), "parent": configMapState(t, ns, "set")}
	unchanged := func(when string) {
		t.Helper()
		after := map[string]snapshot{"ns": namespaceState(t, app), "a": configMapState(t, app, "a"), "b": configMapState(t, ns, "b"), "parent": configMapState(t, ns, "set")}
		for k, v := range before {
			if after[k] != v {
				t.Errorf("%s: %s changed: %+v, was %+v", when, k, after[k], v)
			}
		}
	}

	for _, step := range []struct {
		name  string
		files map[string]string
	}{
		{"README only", map[string]string{"deploy/ns.yaml": "", "deploy/a.yaml": "", "deploy/b.yaml": "", "deploy/README.md": "# moved elsewhere\n"}},
		{"files renamed to .bak", map[string]string{"deploy/a.yaml.bak": configMapIn(app, "a", "one")}},
		{"empty kustomization", map[string]string{"deploy/kustomization.yaml": "resources: []\n"}},
	} {
		rev := repo.commit(step.name, step.files)
		r := kubectl(t, "gitops", "sync", "--name", "set", "-n", ns)
		if r.code == 0 || !strings.Contains(r.stderr, "--allow-empty") || !strings.Contains(r.stderr, rev[:12]) || !strings.Contains(r.stderr, "all 3 objects") {
			t.Fatalf("%s: sync exit %d, want a refusal naming --allow-empty\nstdout:\n%s\nstderr:\n%s", step.name, r.code, r.stdout, r.stderr)
		}
		unchanged("after the refused sync of " + step.name)
		d := kubectl(t, "gitops", "diff", "--name", "set", "-n", ns)
		if d.code != 2 || !strings.Contains(d.stderr, "--allow-empty") {
			t.Fatalf("%s: diff exit %d, want 2 and the refusal\n%s%s", step.name, d.code, d.stdout, d.stderr)
		}
	}
	d := kubectl(t, "gitops", "diff", "--name", "set", "-n", ns, "--allow-empty")
	if d.code != 1 || !strings.Contains(d.stdout, "Namespace/"+app+" would be pruned") {
		t.Fatalf("diff --allow-empty: exit %d\n%s%s", d.code, d.stdout, d.stderr)
	}
	unchanged("after diff")

	r := mustKubectl(t, "gitops", "sync", "--name", "set", "-n", ns, "--allow-empty")
	if !strings.Contains(r.stdout, "3 pruned") {
		t.Fatalf("sync --allow-empty:\n%s", r.stdout)
	}
	if got := configMapState(t, ns, "b"); got.exists {
		t.Errorf("configmap b was not pruned")
	}
	if got := namespaceState(t, app); got.exists && !got.terminating {
		t.Errorf("namespace %s was not pruned", app)
	}
}

// TestSecurityWatchNeverEmptiesTheSet: watch is running when a commit that
// leaves no objects lands. It reports the revision as bad and keeps the
// last good state, still correcting drift, for as long as the head stays.
func TestSecurityWatchNeverEmptiesTheSet(t *testing.T) {
	ns := namespace(t)
	e := &watchEnv{c: &cluster.Cluster{Kubeconfig: kubeconfig}, kube: kube}
	src := newRemote(t, map[string]string{
		"deploy/a.yaml": configMap("a", "one"),
		"deploy/b.yaml": configMap("b", "one"),
	})
	rev1 := src.work.git("rev-parse", "HEAD")
	w := e.startWatch(t, "--name", "set", "--repo", src.url, "--ref", "main", "--path", "deploy", "-n", ns, "--interval", "1s", "--log-format", "json")
	w.next(15*time.Second, "first sync", isEvent("synced", rev1))

	rev2 := src.push("empty", map[string]string{"deploy/a.yaml": "", "deploy/b.yaml": "", "deploy/README.md": "# nothing here\n"})
	ev := w.next(10*time.Second, "bad revision "+rev2, isEvent("bad-revision", rev2))
	if !strings.Contains(ev.Error, "--allow-empty") || !strings.Contains(ev.Error, "all 2 objects") {
		t.Errorf("the bad revision's error: %q", ev.Error)
	}
	// The last good state is kept, and drift is still corrected against it.
	mustKubectl(t, "delete", "configmap", "b", "-n", ns)
	ev = w.next(10*time.Second, "correction at the last good revision", isEvent("corrected", rev1))
	if !changed(ev, "ConfigMap/"+ns+"/b created") {
		t.Errorf("correction: %+v", ev)
	}
	for range 3 {
		time.Sleep(time.Second)
		for _, name := range []string{"a", "b"} {
			if got := e.configMapValue(ns, name); got != "one" {
				t.Fatalf("configmap %s = %q while the head renders nothing, want it kept", name, got)
			}
		}
	}
	for _, line := range strings.Split(w.output(), "\n") {
		var ev watchEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("watch printed a line that is not JSON: %q", line)
		}
		if ev.Counts != nil && ev.Counts.Pruned != 0 {
			t.Errorf("watch pruned: %s", line)
		}
	}
	w.interrupt(syscall.SIGINT)
}
