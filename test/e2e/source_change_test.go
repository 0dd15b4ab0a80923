package e2e

import (
	"strings"
	"testing"
)

// sync --path on a set recorded with another path says so first, with the
// members the change would prune, and prunes them only with --prune given
// on the command line; the next sync guards them the same way.
func TestSyncWithAChangedSourcePrunesOnlyWithPrune(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"deploy/a.yaml":     configMap("a", "one"),
		"deploy/app/b.yaml": configMap("b", "two"),
	})
	mustKubectl(t, "gitops", "sync", "web", "--repo", repo.dir, "--path", "deploy", "-n", ns)

	notes := []string{
		"note: the source differs from the one sync set web recorded: the path (recorded: " + repo.dir + " path deploy; this run: " + repo.dir + " path deploy/app)\n",
		"note: the change of source would prune 1 member: ConfigMap/" + ns + "/a; ",
	}
	// diff says it too, and shows no prune.
	r := kubectl(t, "gitops", "diff", "web", "--repo", repo.dir, "--path", "deploy/app", "-n", ns)
	for _, want := range append(notes, "showing what a sync would do without pruning anything: pass --prune on the command line to prune them\n") {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("diff --path deploy/app: no %q on stderr:\n%s", want, r.stderr)
		}
	}
	if r.code != 0 || strings.Contains(r.stdout, "would be pruned") {
		t.Errorf("diff --path deploy/app: exit %d, want 0 and no prune:\n%s", r.code, r.stdout)
	}

	r = mustKubectl(t, "gitops", "sync", "web", "--repo", repo.dir, "--path", "deploy/app", "-n", ns)
	for _, want := range append(notes, "applying without pruning anything: pass --prune on the command line to prune them\n") {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("sync --path deploy/app: no %q on stderr:\n%s", want, r.stderr)
		}
	}
	if strings.Index(r.stderr, notes[0]) > strings.Index(r.stderr, "applying revision") && strings.Contains(r.stderr, "applying revision") {
		t.Errorf("sync --path deploy/app: the note does not come first:\n%s", r.stderr)
	}
	mustKubectl(t, "get", "configmap", "a", "-n", ns)

	// The next sync, from the recorded (new) source, does not prune it
	// without a word either.
	r = mustKubectl(t, "gitops", "sync", "web", "-n", ns)
	if want := "note: 1 member that an earlier run from " + repo.dir + " path deploy left in the set when the source changed is still there: ConfigMap/" + ns + "/a; applying without pruning"; !strings.Contains(r.stderr, want) {
		t.Errorf("sync after the change: no %q on stderr:\n%s", want, r.stderr)
	}
	mustKubectl(t, "get", "configmap", "a", "-n", ns)

	r = mustKubectl(t, "gitops", "sync", "web", "--prune", "-n", ns)
	if !strings.Contains(r.stderr, "pruning them, as --prune asks") || !strings.Contains(r.stdout, "ConfigMap/"+ns+"/a pruned") {
		t.Errorf("sync --prune: stdout\n%s\nstderr\n%s", r.stdout, r.stderr)
	}
	if r := kubectl(t, "get", "configmap", "a", "-n", ns); r.code == 0 {
		t.Errorf("configmap a is still there after sync --prune")
	}
	// And then nothing more is said.
	if r := mustKubectl(t, "gitops", "sync", "web", "-n", ns); strings.Contains(r.stderr, "note:") {
		t.Errorf("sync after the prune still notes:\n%s", r.stderr)
	}
}

// The case: the new path leaves out Namespace/X while its objects
// stay; even --prune does not delete the namespace with them.
func TestSyncWithAChangedSourceKeepsANamespaceInUse(t *testing.T) {
	ns := namespace(t)
	other := ns + "-app"
	repo := newRepo(t, map[string]string{
		"deploy/ns.yaml":     "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + other + "\n",
		"deploy/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: " + other + "\ndata:\n  v: one\n",
	})
	mustKubectl(t, "gitops", "sync", "web", "--repo", repo.dir, "--path", "deploy", "-n", ns)

	r := kubectl(t, "gitops", "sync", "web", "--repo", repo.dir, "--path", "deploy/app", "--prune", "-n", ns)
	want := "pruning Namespace/" + other + " would delete objects of this revision with it: Namespace/" + other + " holds ConfigMap/" + other + "/b. Nothing was written"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("sync --path deploy/app --prune: exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
	mustKubectl(t, "get", "configmap", "b", "-n", other)

	r = mustKubectl(t, "gitops", "sync", "web", "--repo", repo.dir, "--path", "deploy/app", "-n", ns)
	if !strings.Contains(r.stderr, "(pruning Namespace/"+other+" would delete objects of this revision with it)") {
		t.Errorf("sync --path deploy/app: the note does not warn about the namespace:\n%s", r.stderr)
	}
	mustKubectl(t, "get", "namespace", other)
}
