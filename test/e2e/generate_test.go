package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildPlugins sync.Once
	pluginsErr   error
)

// needPlugins builds the plugins of plugins/ into the isolated PATH, once.
func needPlugins(t *testing.T) {
	t.Helper()
	buildPlugins.Do(func() {
		cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
			"github.com/kubectl-gitops/kubectl-gitops/plugins/gitops-envsubst",
			"github.com/kubectl-gitops/kubectl-gitops/plugins/gitops-add-labels")
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginsErr = fmt.Errorf("building the plugins: %w\n%s", err, out)
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
}

// generatedFixture reads the fixture repository testdata/generate/envsubst,
// its images in registry.
func generatedFixture(t *testing.T, registry string) map[string]string {
	t.Helper()
	root := filepath.Join("..", "..", "testdata", "generate", "envsubst")
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = strings.ReplaceAll(string(b), "registry.example.com", registry)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// kubectlWith runs kubectl as kubectl() does, with more environment.
func kubectlWith(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl"), args...)
	cmd.Env = append([]string{
		"PATH=" + binDir,
		"HOME=" + home,
		"KUBECONFIG=" + kubeconfig,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"GIT_CONFIG_NOSYSTEM=1",
	}, env...)
	return execute(t, cmd)
}

func TestGeneratorsSyncServerDryRun(t *testing.T) {
	needPlugins(t)
	ns := namespace(t)
	repo := newRepo(t, generatedFixture(t, "registry.example.com"))
	sync := []string{"gitops", "sync", "--name", "generated", "--repo", repo.dir, "--path", "deploy", "-n", ns}

	// Without permission: a clear error naming the config and what it runs.
	r := kubectl(t, append(sync, "--dry-run=server")...)
	for _, want := range []string{
		"deploy/.gitops.yaml declares generators",
		`generator "templates" (deploy/.gitops.yaml:12) runs gitops-envsubst --vars vars.env --templates templates`,
		`function "labels" (deploy/.gitops.yaml:15) runs gitops-add-labels`,
		"--allow-generators",
	} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("without --allow-generators: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}

	// With it: the generated objects, validated by the API server.
	r = mustKubectl(t, append(sync, "--dry-run=server", "--allow-generators")...)
	for _, want := range []string{
		"ConfigMap/" + ns + "/web-config created (server dry run)",
		"Deployment/" + ns + "/web created (server dry run)",
		"dry run of HEAD@",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "Nothing") {
		t.Fatalf("the plain file was read:\n%s", r.stdout)
	}
	if g := kubectl(t, "get", "deployment", "web", "-n", ns); g.code == 0 {
		t.Fatal("the dry run created the deployment")
	}
	// A server dry run validates: a generated field the API does not know fails.
	bad := repo.commit("a bad field", map[string]string{"deploy/templates/bad.yaml.tmpl": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nspecial: ${APP}\n"})
	r = kubectl(t, append(sync, "--dry-run=server", "--allow-generators")...)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "special") || !strings.Contains(r.stdout+r.stderr, `generator "templates" (deploy/.gitops.yaml)`) {
		t.Fatalf("an invalid generated object at %s: exit %d\n%s\n%s", bad, r.code, r.stdout, r.stderr)
	}
	repo.commit("remove the bad field", map[string]string{"deploy/templates/bad.yaml.tmpl": ""})

	// The permission may come from the environment too; a real sync.
	r = kubectlWith(t, []string{"KUBECTL_GITOPS_ALLOW_GENERATORS=1"}, append(sync, "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("sync: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var report struct {
		Objects []struct {
			Object struct{ Kind, Name string }
			Origin string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	origins := map[string]string{}
	for _, l := range report.Objects {
		origins[l.Object.Kind+"/"+l.Object.Name] = l.Origin
	}
	if o := origins["Deployment/web"]; !strings.HasPrefix(o, `generator "templates" (deploy/.gitops.yaml), output line `) {
		t.Errorf("origin of the deployment: %q (%v)", o, origins)
	}
	got := mustKubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.metadata.labels.team} {.spec.template.metadata.labels.team} {.spec.replicas} {.spec.template.spec.containers[0].image}").stdout
	if got != "web web 2 registry.example.com/demo/web:1.0.0" {
		t.Fatalf("the synced deployment: %q", got)
	}
	if a := mustKubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.metadata.annotations}").stdout; strings.Contains(a, "config.kubernetes.io") {
		t.Errorf("the function runtime's annotations reached the cluster: %s", a)
	}
}

func TestGeneratorFailuresShowTheirStderr(t *testing.T) {
	needPlugins(t)
	ns := namespace(t)
	files := generatedFixture(t, "registry.example.com")
	files["deploy/templates/web.yaml.tmpl"] = strings.Replace(files["deploy/templates/web.yaml.tmpl"], "${REPLICAS}\n", "${REPLICA_COUNT}\n", 1)
	repo := newRepo(t, files)
	r := kubectl(t, "gitops", "sync", "--name", "broken", "--repo", repo.dir, "--path", "deploy", "-n", ns, "--dry-run=server", "--allow-generators")
	for _, want := range []string{
		`generator "templates" (deploy/.gitops.yaml:12) failed: exit status 1; its standard error:`,
		"gitops-envsubst: templates/web.yaml.tmpl:17: ${REPLICA_COUNT} is not set in vars.env",
	} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
	if s := kubectl(t, "get", "configmap", "broken", "-n", ns); s.code == 0 {
		t.Fatal("a failed render recorded the sync set")
	}
}

// running says whether process pid runs (a zombie does not count).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestGeneratorTimeoutKillsTheProcessGroup(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	ns := namespace(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	repo := newRepo(t, map[string]string{
		"deploy/.gitops.yaml": fmt.Sprintf(`apiVersion: kubectl-gitops.dev/v1alpha1
kind: Generators
generators:
  - name: stuck
    timeout: 1s
    command: [sh, -c, '%s 300 >/dev/null 2>&1 & echo $! > %s; echo "waiting for a lock" >&2; wait']
`, sleep, pidFile),
	})
	start := time.Now()
	r := kubectl(t, "gitops", "sync", "--name", "stuck", "--repo", repo.dir, "--path", "deploy", "-n", ns, "--dry-run=server", "--allow-generators")
	if r.code == 0 || !strings.Contains(r.stderr, `generator "stuck" (deploy/.gitops.yaml:4): timed out after 1s; its processes were killed`) || !strings.Contains(r.stderr, "waiting for a lock") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("the sync took %s", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); running(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the generator's child %d still runs", pid)
		}
	}
}

func TestGeneratedImagesMoveThroughAnUpdater(t *testing.T) {
	needPlugins(t)
	writeGitConfig(t)
	reg := newRegistry(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tag := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		reg.push("demo/web", tag, base.Add(time.Duration(i)*time.Hour))
	}
	files := generatedFixture(t, reg.host)
	repo := newRepo(t, files)
	images := []string{"images", "--repo", ".", "--path", "deploy"}

	r := gitops(t, repo.dir, images...)
	if r.code == 0 || !strings.Contains(r.stderr, "deploy/.gitops.yaml declares generators") || !strings.Contains(r.stderr, "--allow-generators") {
		t.Fatalf("images without --allow-generators: exit %d\n%s", r.code, r.stderr)
	}

	r = mustGitops(t, repo.dir, append(images, "--allow-generators", "-o", "json")...)
	var listed []struct {
		Workload, Container, Origin, Latest, Note string
		Generated                                 bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(listed) != 1 || listed[0].Workload != "default:deployment/web" || !listed[0].Generated || listed[0].Latest != "1.1.0" || listed[0].Note != "" ||
		!strings.HasPrefix(listed[0].Origin, `generator "templates" (deploy/.gitops.yaml)`) {
		t.Fatalf("images: %+v", listed)
	}

	// --dry-run shows the updater's edit of vars.env.
	head := repo.git("rev-parse", "HEAD")
	r = mustGitops(t, repo.dir, append(images, "--allow-generators", "--update", "--dry-run")...)
	if !strings.Contains(r.stdout, "--- a/deploy/vars.env") || !strings.Contains(r.stdout, "-WEB_TAG=1.0.0") || !strings.Contains(r.stdout, "+WEB_TAG=1.1.0") {
		t.Fatalf("dry run:\n%s\n%s", r.stdout, r.stderr)
	}
	if repo.git("rev-parse", "HEAD") != head {
		t.Fatal("--dry-run committed")
	}

	r = mustGitops(t, repo.dir, append(images, "--allow-generators", "--update")...)
	if !strings.Contains(r.stdout, "demo/web 1.0.0 -> 1.1.0 (default:deployment/web)") {
		t.Fatalf("update:\n%s\n%s", r.stdout, r.stderr)
	}
	want := strings.Replace(files["deploy/vars.env"], "WEB_TAG=1.0.0", "WEB_TAG=1.1.0", 1)
	if got := readFile(t, filepath.Join(repo.dir, "deploy", "vars.env")); got != want {
		t.Fatalf("vars.env:\n%s\nwant:\n%s", got, want)
	}
	if changed := repo.git("show", "--name-only", "--format=", "HEAD"); changed != "deploy/vars.env" {
		t.Fatalf("the commit changed:\n%s", changed)
	}
	if msg := repo.git("log", "-1", "--format=%B"); !strings.Contains(msg, "Auto-release "+reg.host+"/demo/web:1.1.0") {
		t.Fatalf("commit message:\n%s", msg)
	}
	if st := repo.git("status", "--porcelain"); st != "" {
		t.Fatalf("work tree not clean:\n%s", st)
	}
	// The generated output now holds the new image; nothing more to do.
	head = repo.git("rev-parse", "HEAD")
	r = mustGitops(t, repo.dir, append(images, "--allow-generators", "-o", "json")...)
	if !strings.Contains(r.stdout, reg.host+"/demo/web:1.1.0") {
		t.Fatalf("after the update:\n%s", r.stdout)
	}
	mustGitops(t, repo.dir, append(images, "--allow-generators", "--update")...)
	if repo.git("rev-parse", "HEAD") != head {
		t.Fatal("a run with nothing to update committed")
	}

	// Without an updater, generated workloads are listed as such and skipped.
	cfg := files["deploy/.gitops.yaml"]
	noUpdater := repo.commit("no updater", map[string]string{"deploy/.gitops.yaml": cfg[:strings.Index(cfg, "updaters:")]})
	r = mustGitops(t, repo.dir, append(images, "--allow-generators")...)
	if !strings.Contains(r.stdout, "generated: cannot be edited (no updater declared)") || !strings.Contains(r.stdout, "default:deployment/web") {
		t.Fatalf("listing without an updater:\n%s", r.stdout)
	}
	r = mustGitops(t, repo.dir, append(images, "--allow-generators", "--update")...)
	if !strings.Contains(r.stderr, "skipped default:deployment/web container web: generated: cannot be edited (no updater declared)") {
		t.Fatalf("update without an updater:\n%s\n%s", r.stdout, r.stderr)
	}
	if repo.git("rev-parse", "HEAD") != noUpdater {
		t.Fatal("an update without an updater committed")
	}
}
