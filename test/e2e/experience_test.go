package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// neverReady is a Deployment that never becomes ready: the e2e cluster runs
// no controllers, so nothing rolls it out.
func neverReady(name string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\nspec:\n  selector:\n    matchLabels: {app: " + name + "}\n  template:\n    metadata:\n      labels: {app: " + name + "}\n    spec:\n      containers:\n      - name: web\n        image: registry.example.com/web:1.0.0\n"
}

// A member deleted by hand is listed as Missing, in the table and in JSON.
func TestStatusShowsMissingMembers(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"deploy/a.yaml": configMap("a", "one"),
		"deploy/b.yaml": configMap("b", "two"),
	})
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	mustKubectl(t, "delete", "configmap", "b", "-n", ns)

	r := mustKubectl(t, "gitops", "status", "--name", "set", "-n", ns)
	var line string
	for l := range strings.SplitSeq(r.stdout, "\n") {
		if strings.Contains(l, "ConfigMap/"+ns+"/b ") {
			line = l
		}
	}
	if !strings.Contains(line, "Missing") {
		t.Fatalf("status does not list the deleted ConfigMap b as Missing:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "Members (2)") {
		t.Fatalf("status does not count the missing member:\n%s", r.stdout)
	}

	r = mustKubectl(t, "gitops", "status", "--name", "set", "-n", ns, "-o", "json")
	var st struct {
		Members []struct {
			Object struct{ Name string }
			Health struct{ Status string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	got := map[string]string{}
	for _, m := range st.Members {
		got[m.Object.Name] = m.Health.Status
	}
	if got["a"] != "Current" || got["b"] != "Missing" {
		t.Fatalf("status -o json members: %v, want a Current and b Missing\n%s", got, r.stdout)
	}
}

// A set whose last runs failed says so in the header and in JSON.
func TestStatusShowsFailedRunsInARow(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"deploy/a.yaml": configMap("a", "one")})
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	r := mustKubectl(t, "gitops", "status", "--name", "set", "-n", ns)
	if !strings.Contains(r.stdout, "Last run:    Succeeded") {
		t.Fatalf("status after a good run:\n%s", r.stdout)
	}

	repo.commit("web", map[string]string{"deploy/web.yaml": neverReady("web")})
	for range 3 {
		if r := kubectl(t, "gitops", "sync", "--name", "set", "-n", ns, "--wait", "--timeout", "1s"); r.code == 0 {
			t.Fatalf("sync --wait of a Deployment that never rolls out succeeded:\n%s%s", r.stdout, r.stderr)
		}
	}
	r = mustKubectl(t, "gitops", "status", "--name", "set", "-n", ns)
	if !strings.Contains(r.stdout, "Last run:    Failed") || !strings.Contains(r.stdout, "(3 failed runs in a row)") {
		t.Fatalf("status after three failed runs does not say so:\n%s", r.stdout)
	}
	r = mustKubectl(t, "gitops", "status", "--name", "set", "-n", ns, "-o", "json")
	var st struct {
		LastRun struct {
			Outcome string
			InARow  int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if st.LastRun.Outcome != "Failed" || st.LastRun.InARow != 3 {
		t.Fatalf("status -o json lastRun = %+v, want Failed 3 in a row\n%s", st.LastRun, r.stdout)
	}
}

// sync --wait that times out states one outcome, matching its exit status,
// and says while waiting what is not ready, once per change.
func TestSyncWaitTimeoutIsOneOutcome(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"deploy/a.yaml":   configMap("a", "one"),
		"deploy/web.yaml": neverReady("web"),
	})
	r := kubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns, "--wait", "--timeout", "3s")
	if r.code != 1 {
		t.Fatalf("sync --wait of a Deployment that never rolls out: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	web := "Deployment/" + ns + "/web"
	if !strings.Contains(r.stdout, "but not ready after 3s: "+web+" (") {
		t.Fatalf("the summary does not say what was not ready:\n%s", r.stdout)
	}
	for _, bad := range []string{"synced ", "0 failed"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("the summary of a run that did not become ready says %q:\n%s", bad, r.stdout)
		}
	}
	if n := strings.Count(r.stdout+r.stderr, "not ready after"); n != 1 {
		t.Errorf("the outcome is stated %d times, want once\nstdout:\n%s\nstderr:\n%s", n, r.stdout, r.stderr)
	}
	// Not a terminal: a plain line when the set of objects not ready
	// changes, not one per poll (the Deployment stays not ready for ~3 polls).
	if n := strings.Count(r.stderr, "waiting: 1 not ready: "+web+" ("); n != 1 {
		t.Errorf("stderr has %d progress lines for the Deployment, want 1:\n%s", n, r.stderr)
	}

	// Once the Deployment is gone from the repository, the set syncs.
	repo.commit("drop web", map[string]string{"deploy/web.yaml": ""})
	r = mustKubectl(t, "gitops", "sync", "--name", "set", "-n", ns, "--wait", "--timeout", "3s")
	if !strings.Contains(r.stdout, "synced ") || strings.Contains(r.stdout, "not ready") || strings.Contains(r.stderr, "waiting:") {
		t.Fatalf("sync --wait of ready objects:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// sync and diff read commits only, and say so when the work tree has
// uncommitted changes under the path.
func TestSyncAndDiffNoteUncommittedChanges(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"deploy/a.yaml": configMap("a", "one"),
		"other/x.yaml":  configMap("x", "one"),
		".gitignore":    "*.bak\n",
	})
	rev := repo.git("rev-parse", "HEAD")
	args := []string{"--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns}

	// Changes outside the path are none of the sync's business.
	repo.write(map[string]string{"other/x.yaml": configMap("x", "two")})
	r := mustKubectl(t, append([]string{"gitops", "sync"}, args...)...)
	if strings.Contains(r.stderr, "note:") {
		t.Fatalf("sync notes changes outside --path:\n%s", r.stderr)
	}

	repo.write(map[string]string{"deploy/a.yaml": configMap("a", "two"), "deploy/c.yaml": configMap("c", "staged"), "deploy/b.yaml": configMap("b", "untracked"), "deploy/a.yaml.bak": "ignored"})
	repo.git("add", "deploy/c.yaml")
	want := "note: deploy/ has uncommitted changes in " + repo.dir
	for _, verb := range []string{"sync", "diff"} {
		r := kubectl(t, append([]string{"gitops", verb}, args...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", verb, r.code, r.stdout, r.stderr)
		}
		if n := strings.Count(r.stderr, "note:"); n != 1 {
			t.Fatalf("%s: %d notes on stderr, want 1:\n%s", verb, n, r.stderr)
		}
		for _, s := range []string{want, "deploy/a.yaml (modified)", "deploy/c.yaml (staged)", "deploy/b.yaml (untracked)", verb + " reads commit " + rev[:7] + " only"} {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("%s: stderr lacks %q:\n%s", verb, s, r.stderr)
			}
		}
		if strings.Contains(r.stderr, ".bak") {
			t.Errorf("%s: the note names an ignored file:\n%s", verb, r.stderr)
		}
		if strings.Contains(r.stdout, "note:") {
			t.Errorf("%s: the note is on stdout:\n%s", verb, r.stdout)
		}
	}
	// Still only the commit is applied.
	if got := mustKubectl(t, "get", "configmap", "a", "-n", ns, "-o", "jsonpath={.data.value}").stdout; got != "one" {
		t.Fatalf("configmap a has %q, want the committed value", got)
	}
	for _, name := range []string{"b", "c"} {
		if r := kubectl(t, "get", "configmap", name, "-n", ns); r.code == 0 {
			t.Fatalf("the uncommitted configmap %s was applied", name)
		}
	}
}

// On a terminal, sync --wait shows what is not ready in one line updated in
// place, not in plain lines.
func TestSyncWaitOnATerminalUpdatesInPlace(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"deploy/web.yaml": neverReady("web")})
	line := "kubectl gitops sync --name set --repo " + repo.dir + " --path deploy -n " + ns + " --wait --timeout 3s"
	// script runs the command on a pseudo-terminal and copies what it
	// prints, stdout and stderr, to its stdout.
	cmd := exec.CommandContext(t.Context(), "/usr/bin/script", "-qec", line, "/dev/null")
	cmd.Env = []string{
		"PATH=" + binDir,
		"SHELL=/bin/sh",
		"HOME=" + home,
		"KUBECONFIG=" + kubeconfig,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"GIT_CONFIG_NOSYSTEM=1",
	}
	r := execute(t, cmd)
	if r.code != 1 {
		t.Fatalf("sync --wait on a terminal: exit %d, want 1\n%q", r.code, r.stdout)
	}
	web := "Deployment/" + ns + "/web"
	if !strings.Contains(r.stdout, "\r\x1b[Kwaiting (") || !strings.Contains(r.stdout, "1 not ready: "+web+" (") {
		t.Errorf("no progress line updated in place naming the Deployment:\n%q", r.stdout)
	}
	if strings.Contains(r.stdout, "waiting: ") {
		t.Errorf("plain progress lines on a terminal:\n%q", r.stdout)
	}
	if !strings.Contains(r.stdout, "but not ready after 3s: "+web+" (") {
		t.Errorf("the summary does not say what was not ready:\n%q", r.stdout)
	}
}
