package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// The source a sync set records in its parent ConfigMap is data read from
// the cluster: anyone who can edit that ConfigMap can point it elsewhere.
// These tests edit the record as such a person would, then run every
// command that can take the recorded source, with the operator's git
// password in the environment, and check that no command contacts the
// recorded repository or changes the cluster until the operator names the
// source with --repo.

const trustPassword = "operator-token-6b1f0c"

// trustEnv is the plugin's environment: the shared one of the e2e tests,
// the operator's git password, and extra.
func trustEnv(extra ...string) []string {
	return append([]string{
		"PATH=" + binDir,
		"HOME=" + home,
		"KUBECONFIG=" + kubeconfig,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"GIT_CONFIG_NOSYSTEM=1",
		"KUBECTL_GITOPS_GIT_PASSWORD=" + trustPassword,
	}, extra...)
}

// kubectlEnv runs kubectl as kubectl does, with env as its environment and
// at most timeout.
func kubectlEnv(t *testing.T, env []string, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	return execute(t, cmd)
}

// recorder is a git server on 127.0.0.1 that answers every request with 401
// and records it.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		line := req.Method + " " + req.URL.String()
		if req.Header.Get("Authorization") != "" {
			line += " (with an Authorization header)"
		}
		r.requests = append(r.requests, line)
		r.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "who are you?", http.StatusUnauthorized)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

// editRecord changes the source in the set's parent, as a person with
// write access to ConfigMaps in the namespace can.
func editRecord(t *testing.T, ns, name string, edit func(*applyset.Source)) {
	t.Helper()
	ctx := context.Background()
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(cm.Data["record.json"]), &rec); err != nil {
		t.Fatalf("the parent's record.json: %v\n%s", err, cm.Data["record.json"])
	}
	var src applyset.Source
	b, _ := json.Marshal(rec["source"])
	if err := json.Unmarshal(b, &src); err != nil || src.Repo == "" {
		t.Fatalf("the parent records no source: %v\n%s", err, cm.Data["record.json"])
	}
	edit(&src)
	rec["source"] = src
	b, err = json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["record.json"] = string(b)
	if _, err := kube.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// clusterState is the resourceVersion of every ConfigMap in ns, by name:
// any write changes it.
func clusterState(t *testing.T, ns string) map[string]string {
	t.Helper()
	list, err := kube.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, cm := range list.Items {
		state[cm.Name] = cm.ResourceVersion
	}
	return state
}

func sameState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSecurityRecordedSourceIsNotTrusted(t *testing.T) {
	ns := namespace(t)
	deployment := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: " + ns + "\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry.example.com/web:1.0.0\n"
	repo := newRepo(t, map[string]string{
		"deploy/a.yaml":   configMap("a", "one"),
		"deploy/web.yaml": deployment,
	})
	env := trustEnv()
	mustRun := func(args ...string) result {
		t.Helper()
		r := kubectlEnv(t, env, time.Minute, args...)
		if r.code != 0 {
			t.Fatalf("kubectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	mustRun("gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)

	attacker := newRecorder(t)
	evil := attacker.URL + "/team/web.git"
	editRecord(t, ns, "set", func(s *applyset.Source) { s.Repo = evil })
	before := clusterState(t, ns)

	// Every command that can take the recorded source refuses it, names it
	// and the confirmed one, and says how to confirm it.
	for _, args := range [][]string{
		{"gitops", "sync", "--name", "set", "-n", ns},
		{"gitops", "sync", "--name", "set", "-n", ns, "--dry-run=server"},
		{"gitops", "diff", "--name", "set", "-n", ns},
		{"gitops", "watch", "--name", "set", "-n", ns, "--interval", "1s"},
		{"gitops", "watch", "--name", "set", "-n", ns, "--interval", "1s", "--images"},
		{"gitops", "lock", ns + ":deployment/web", "--name", "set", "-n", ns, "-m", "hold"},
		{"gitops", "automate", ns + ":deployment/web", "--name", "set", "-n", ns},
		{"gitops", "images", "--name", "set", "-n", ns},
		{"gitops", "images", "--update", "--name", "set", "-n", ns},
		{"gitops", "workloads", "--name", "set", "-n", ns},
	} {
		start := time.Now()
		r := kubectlEnv(t, env, time.Minute, args...)
		cmd := strings.Join(args, " ")
		if r.code == 0 {
			t.Errorf("kubectl %s: exit 0 with a changed record\nstdout:\n%s\nstderr:\n%s", cmd, r.stdout, r.stderr)
			continue
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("kubectl %s took %s to refuse: it should refuse at once, not retry", cmd, d)
		}
		for _, want := range []string{
			"records the source " + evil + " path deploy",
			"differs from the source confirmed on this machine, " + repo.dir + " path deploy",
			"--repo " + repo.dir + " --path deploy for the confirmed one",
			"--repo " + evil + " --path deploy to confirm the recorded one",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("kubectl %s: the error lacks %q:\n%s", cmd, want, r.stderr)
			}
		}
		if strings.Contains(r.stdout+r.stderr, trustPassword) {
			t.Errorf("kubectl %s prints the git password", cmd)
		}
	}

	// Completing a workload id does not fetch the recorded source either.
	comp := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl-gitops"), "__complete", "lock", "--name", "set", "-n", ns, "")
	comp.Env = env
	if r := execute(t, comp); strings.Contains(r.stdout, "deployment/web") {
		t.Errorf("completion read the recorded source:\n%s", r.stdout)
	}

	// status shows the record without fetching it, marked as not confirmed.
	st := mustRun("gitops", "status", "--name", "set", "-n", ns)
	if !strings.Contains(st.stdout, "Source:      "+evil+" path deploy") || !strings.Contains(st.stdout, "Confirmed:   no (Differs)") || !strings.Contains(st.stdout, repo.dir) {
		t.Errorf("status does not mark the changed record as unconfirmed:\n%s", st.stdout)
	}
	var status struct {
		SourceTrust struct {
			State     string
			Confirmed *applyset.Source
		}
	}
	js := mustRun("gitops", "status", "--name", "set", "-n", ns, "-o", "json")
	if err := json.Unmarshal([]byte(js.stdout), &status); err != nil {
		t.Fatal(err)
	}
	if status.SourceTrust.State != "Differs" || status.SourceTrust.Confirmed == nil || status.SourceTrust.Confirmed.Repo != repo.dir {
		t.Errorf("status -o json sourceTrust = %+v, want Differs from %s", status.SourceTrust, repo.dir)
	}

	if got := attacker.got(); len(got) > 0 {
		t.Errorf("the recorded repository was contacted (the git password may have left):\n%s", strings.Join(got, "\n"))
	}
	if after := clusterState(t, ns); !sameState(before, after) {
		t.Errorf("the cluster changed: ConfigMaps before %v, after %v", before, after)
	}

	// The operator names the confirmed source: it syncs, and the record is
	// the confirmed source again.
	mustRun("gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	mustRun("gitops", "sync", "--name", "set", "-n", ns)
	if got := attacker.got(); len(got) > 0 {
		t.Errorf("the recorded repository was contacted:\n%s", strings.Join(got, "\n"))
	}
}

// A changed path inside the confirmed repository, or a changed ref, is
// refused like a changed repository: it would apply other manifests.
func TestSecurityRecordedPathAndRefAreNotTrusted(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"deploy/a.yaml": configMap("a", "one"),
		"other/a.yaml":  configMap("a", "overwritten"),
		"other/b.yaml":  configMap("planted", "x"),
	})
	// A branch someone could push to, with a manifest the operator never
	// reviewed.
	repo.git("checkout", "-q", "-b", "evil")
	repo.commit("planted", map[string]string{"deploy/b.yaml": configMap("planted-on-a-branch", "x")})
	repo.git("checkout", "-q", "main")
	env := trustEnv()
	if r := kubectlEnv(t, env, time.Minute, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns); r.code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for name, edit := range map[string]func(*applyset.Source){
		"path": func(s *applyset.Source) { s.Path = "other" },
		"ref":  func(s *applyset.Source) { s.Ref = "evil" },
	} {
		t.Run(name, func(t *testing.T) {
			editRecord(t, ns, "set", func(s *applyset.Source) { *s = applyset.Source{Repo: repo.dir, Path: "deploy"}; edit(s) })
			before := clusterState(t, ns)
			for _, verb := range []string{"sync", "diff"} {
				r := kubectlEnv(t, env, time.Minute, "gitops", verb, "--name", "set", "-n", ns)
				if r.code == 0 || !strings.Contains(r.stderr, "whose "+name+" differs from the source confirmed on this machine") {
					t.Errorf("%s with a changed %s: exit %d\n%s%s", verb, name, r.code, r.stdout, r.stderr)
				}
			}
			if after := clusterState(t, ns); !sameState(before, after) {
				t.Errorf("the cluster changed: ConfigMaps before %v, after %v", before, after)
			}
		})
	}
}

// On a machine that never confirmed the set's source, the recorded source
// is refused even when it is the right one, until the operator names it.
func TestSecurityRecordedSourceNeedsConfirmingOnEachMachine(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"a.yaml": configMap("a", "one")})
	if r := kubectlEnv(t, trustEnv(), time.Minute, "gitops", "sync", "--name", "set", "--repo", repo.dir, "-n", ns); r.code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Another machine: its own config directory.
	other := filepath.Join(t.TempDir(), "config")
	env := trustEnv("XDG_CONFIG_HOME=" + other)
	repo.commit("two", map[string]string{"a.yaml": configMap("a", "two")})
	before := clusterState(t, ns)
	r := kubectlEnv(t, env, time.Minute, "gitops", "sync", "--name", "set", "-n", ns)
	if r.code == 0 || !strings.Contains(r.stderr, "records the source "+repo.dir+" in its ConfigMap "+ns+"/set, which is not confirmed on this machine") || !strings.Contains(r.stderr, "confirm it by naming it: --repo "+repo.dir) {
		t.Fatalf("sync on a machine without the confirmation: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := clusterState(t, ns); !sameState(before, after) {
		t.Errorf("the cluster changed: ConfigMaps before %v, after %v", before, after)
	}
	st := kubectlEnv(t, env, time.Minute, "gitops", "status", "--name", "set", "-n", ns)
	if st.code != 0 || !strings.Contains(st.stdout, "Confirmed:   no (NotConfirmed)") {
		t.Errorf("status on a machine without the confirmation: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}

	// Naming it confirms it, in a private file; then the record is used.
	if r := kubectlEnv(t, env, time.Minute, "gitops", "sync", "--name", "set", "--repo", repo.dir, "-n", ns); r.code != 0 {
		t.Fatalf("sync --repo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	files, err := filepath.Glob(filepath.Join(other, "kubectl-gitops", "confirmed-sources", "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("confirmed sources in %s: %v, %v; want one file", other, files, err)
	}
	fi, err := os.Stat(files[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", files[0], err, fi.Mode())
	}
	repo.commit("three", map[string]string{"a.yaml": configMap("a", "three")})
	if r := kubectlEnv(t, env, time.Minute, "gitops", "sync", "--name", "set", "-n", ns); r.code != 0 {
		t.Fatalf("sync of the confirmed record: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if st := kubectlEnv(t, env, time.Minute, "gitops", "status", "--name", "set", "-n", ns); !strings.Contains(st.stdout, "Confirmed:   yes") {
		t.Errorf("status after confirming:\n%s%s", st.stdout, st.stderr)
	}
}
