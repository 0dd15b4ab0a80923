package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPluginIsFoundByKubectl(t *testing.T) {
	r := mustKubectl(t, "plugin", "list")
	if !strings.Contains(r.stdout, filepath.Join(binDir, "kubectl-gitops")) {
		t.Fatalf("kubectl plugin list does not list kubectl-gitops:\n%s%s", r.stdout, r.stderr)
	}
	r = mustKubectl(t, "gitops", "version", "-o", "json")
	var info struct{ Version string }
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.Version != testVersion {
		t.Fatalf("version -o json: %q (%v), want version %s", r.stdout, err, testVersion)
	}
}

func TestHelpAndCompletion(t *testing.T) {
	r := mustKubectl(t, "gitops", "sync", "--help")
	for _, want := range []string{"kubectl gitops sync --name", "Examples:", "--kubeconfig", "--context", "--namespace", "--dry-run", "--force-conflicts"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("sync --help lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := mustKubectl(t, "gitops", "completion", shell)
		if !strings.Contains(r.stdout, "kubectl-gitops") {
			t.Errorf("completion %s does not complete kubectl-gitops:\n%.300s", shell, r.stdout)
		}
	}
	r = kubectl(t, "gitops", "sync", "--bogus")
	if r.code == 0 || !strings.Contains(r.stderr, "unknown flag: --bogus") {
		t.Fatalf("bad flag: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestSyncAppliesOnlyCommittedFiles(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"deploy/a.yaml": configMap("a", "committed")})
	rev := repo.git("rev-parse", "HEAD")
	repo.write(map[string]string{
		"deploy/a.yaml": configMap("a", "uncommitted"),
		"deploy/b.yaml": configMap("b", "untracked"),
	})
	r := mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	if !strings.Contains(r.stdout, rev) {
		t.Fatalf("sync output does not name the revision %s:\n%s", rev, r.stdout)
	}
	if !strings.Contains(r.stdout, "ConfigMap/"+ns+"/a created") {
		t.Fatalf("sync output:\n%s", r.stdout)
	}
	if got := mustKubectl(t, "get", "configmap", "a", "-n", ns, "-o", "jsonpath={.data.value}").stdout; got != "committed" {
		t.Fatalf("configmap a has %q, want the committed value", got)
	}
	if r := kubectl(t, "get", "configmap", "b", "-n", ns); r.code == 0 {
		t.Fatal("the untracked file was applied")
	}
}

func TestResyncUsesTheRecordedSource(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"deploy/a.yaml": configMap("a", "one")})
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	rev := repo.commit("two", map[string]string{"deploy/a.yaml": configMap("a", "two")})

	r := mustKubectl(t, "gitops", "sync", "--name", "set", "-n", ns, "-o", "json")
	var report struct {
		Revision string
		Path     string
		Objects  []struct {
			Object struct{ Name string }
			Action string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("sync -o json: %v\n%s", err, r.stdout)
	}
	if report.Revision != rev || report.Path != "deploy" || len(report.Objects) != 1 || report.Objects[0].Action != "configured" {
		t.Fatalf("report %+v, want revision %s configured from deploy", report, rev)
	}

	st := mustKubectl(t, "gitops", "status", "--name", "set", "-n", ns, "-o", "json")
	var status struct {
		Record struct {
			Source             struct{ Repo, Path string }
			LastSyncedRevision string
			History            []struct{ Revision, Outcome string }
		}
		Members []struct {
			Object struct{ Kind, Name string }
			Health struct{ Status string }
		}
	}
	if err := json.Unmarshal([]byte(st.stdout), &status); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, st.stdout)
	}
	rec := status.Record
	if rec.LastSyncedRevision != rev || rec.Source.Repo != repo.dir || rec.Source.Path != "deploy" || len(rec.History) != 2 || rec.History[0].Outcome != "Succeeded" {
		t.Fatalf("status record %+v", rec)
	}
	if len(status.Members) != 1 || status.Members[0].Object.Name != "a" || status.Members[0].Health.Status != "Current" {
		t.Fatalf("status members %+v", status.Members)
	}
	human := mustKubectl(t, "gitops", "status", "--name", "set", "-n", ns)
	for _, want := range []string{rev, "ConfigMap/" + ns + "/a", "Current", "Succeeded"} {
		if !strings.Contains(human.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, human.stdout)
		}
	}
}

func TestInvalidManifestsApplyNothing(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"good.yaml":    configMap("good", "x"),
		"broken.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: [1, 2\n",
		"unknown.yaml": "apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\n",
	})
	r := kubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "-n", ns)
	if r.code == 0 || !strings.Contains(r.stderr, "broken.yaml:") {
		t.Fatalf("exit %d, stderr:\n%s\nwant an error naming broken.yaml and its line", r.code, r.stderr)
	}
	if rr := kubectl(t, "get", "configmap", "good", "-n", ns); rr.code == 0 {
		t.Fatal("a valid object was applied although another file is broken")
	}
	// With the syntax error fixed, the unknown kind is named, and still nothing is applied.
	repo.commit("fix", map[string]string{"broken.yaml": configMap("broken", "x")})
	r = kubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "-n", ns)
	if r.code == 0 || !strings.Contains(r.stderr, "unknown.yaml:1") || !strings.Contains(r.stderr, "Gizmo") {
		t.Fatalf("exit %d, stderr:\n%s\nwant an error naming unknown.yaml:1 and Gizmo", r.code, r.stderr)
	}
	if rr := kubectl(t, "get", "configmap", "good", "-n", ns); rr.code == 0 {
		t.Fatal("a valid object was applied although a kind is unknown")
	}
	if rr := kubectl(t, "get", "configmap", "set", "-n", ns); rr.code == 0 {
		t.Fatal("the parent was created by a run that applied nothing")
	}
}

func TestDiffExitCodes(t *testing.T) {
	ns := namespace(t)
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  token: first-secret\n"
	repo := newRepo(t, map[string]string{"a.yaml": configMap("a", "one"), "s.yaml": secret})

	r := kubectl(t, "gitops", "diff", "--name", "set", "--repo", repo.dir, "-n", ns)
	if r.code != 1 || !strings.Contains(r.stdout, "ConfigMap/"+ns+"/a would be created") {
		t.Fatalf("diff before the first sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "-n", ns)
	r = kubectl(t, "gitops", "diff", "--name", "set", "-n", ns)
	if r.code != 0 {
		t.Fatalf("diff after sync: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	repo.commit("change", map[string]string{"a.yaml": configMap("a", "two"), "s.yaml": strings.Replace(secret, "first-secret", "second-secret", 1)})
	r = kubectl(t, "gitops", "diff", "--name", "set", "-n", ns)
	if r.code != 1 || !strings.Contains(r.stdout, "+  value: two") || !strings.Contains(r.stdout, "1 to create, 0 to change") && !strings.Contains(r.stdout, "to change") {
		t.Fatalf("diff after a change: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "second-secret") || strings.Contains(r.stdout, "first-secret") {
		t.Fatalf("diff shows a secret value:\n%s", r.stdout)
	}
	if got := mustKubectl(t, "get", "configmap", "a", "-n", ns, "-o", "jsonpath={.data.value}").stdout; got != "one" {
		t.Fatalf("diff changed the cluster: %q", got)
	}
	r = kubectl(t, "gitops", "diff", "--name", "set", "--repo", filepath.Join(t.TempDir(), "missing"), "-n", ns)
	if r.code != 2 {
		t.Fatalf("diff of a missing repository: exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestDryRunCreatesNothing(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"a.yaml": configMap("a", "one")})
	r := mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "-n", ns, "--dry-run=server")
	if !strings.Contains(r.stdout, "created (server dry run)") {
		t.Fatalf("dry run output:\n%s", r.stdout)
	}
	for _, name := range []string{"a", "set"} {
		if rr := kubectl(t, "get", "configmap", name, "-n", ns); rr.code == 0 {
			t.Fatalf("dry run created configmap %s", name)
		}
	}
}

func TestRemoteRepositoryIsFetchedIncrementally(t *testing.T) {
	ns := namespace(t)
	work := newRepo(t, map[string]string{"a.yaml": configMap("a", "one")})
	bare := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	url := "file://" + bare
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", url, "--ref", "main", "-n", ns)

	rev := work.commit("two", map[string]string{"a.yaml": configMap("a", "two")})
	work.git("push", "-q", bare, "main")
	r := mustKubectl(t, "gitops", "sync", "--name", "set", "-n", ns)
	if !strings.Contains(r.stdout, rev) {
		t.Fatalf("resync did not fetch %s:\n%s", rev, r.stdout)
	}
	if got := mustKubectl(t, "get", "configmap", "a", "-n", ns, "-o", "jsonpath={.data.value}").stdout; got != "two" {
		t.Fatalf("configmap a = %q after fetching", got)
	}
}

func TestKubeconfigFlagsBehaveAsInKubectl(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"a.yaml": configMap("a", "one")})
	// --kubeconfig and --context as kubectl takes them; -n sets the default namespace.
	ctx := strings.TrimSpace(mustKubectl(t, "config", "current-context").stdout)
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--kubeconfig", kubeconfig, "--context", ctx, "--namespace", ns)
	mustKubectl(t, "get", "configmap", "a", "-n", ns)
	r := kubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--context", "no-such-context", "-n", ns)
	if r.code == 0 || !strings.Contains(r.stderr, "no-such-context") {
		t.Fatalf("unknown context: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestOutputGoesToStdoutAndProgressStaysOffPipes(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"a.yaml": configMap("a", "one")})
	r := mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "-n", ns, "-o", "json")
	if !json.Valid([]byte(r.stdout)) {
		t.Fatalf("stdout is not JSON:\n%s", r.stdout)
	}
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\x1b[") {
		t.Fatalf("progress escapes on a pipe: %q", r.stderr)
	}
}

func TestObjectFailuresExitNonZero(t *testing.T) {
	ns := namespace(t)
	bad := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nunknownField: x\n"
	repo := newRepo(t, map[string]string{"bad.yaml": bad, "good.yaml": configMap("good", "x")})
	r := kubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "-n", ns)
	if r.code != 1 || !strings.Contains(r.stdout, "ConfigMap/"+ns+"/bad failed") || !strings.Contains(r.stderr, "unknownField") || !strings.Contains(r.stderr, "not recorded as synced") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestKubectlCompletesThePlugin(t *testing.T) {
	ns := namespace(t)
	mustKubectl(t, "gitops", "completion", "kubectl", "--dir", binDir)
	r := mustKubectl(t, "__complete", "gitops", "sy")
	if !strings.Contains(r.stdout, "sync") {
		t.Fatalf("kubectl __complete gitops sy:\n%s%s", r.stdout, r.stderr)
	}
	repo := newRepo(t, map[string]string{"a.yaml": configMap("a", "one")})
	mustKubectl(t, "gitops", "sync", "--name", "completed-set", "--repo", repo.dir, "-n", ns)
	r = mustKubectl(t, "__complete", "gitops", "status", "-n", ns, "--name", "")
	if !strings.Contains(r.stdout, "completed-set") {
		t.Fatalf("sync set names are not completed:\n%s%s", r.stdout, r.stderr)
	}
}
