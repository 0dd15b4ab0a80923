package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is a real OCI registry (go-containerregistry's) on loopback.
type testRegistry struct {
	t    *testing.T
	host string
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &testRegistry{t: t, host: strings.TrimPrefix(srv.URL, "http://")}
}

// push pushes a random image as repo:tag, created at the given time, and
// returns its digest.
func (r *testRegistry) push(repo, tag string, created time.Time) string {
	return r.pushAuth(repo, tag, created, "", "")
}

// deploymentYAML is a hand-written manifest with comments and styles that
// an edit must keep.
func deploymentYAML(name, annotations, image string) string {
	return `# The ` + name + ` service.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
  namespace: demo
` + annotations + `spec:
  replicas: 1   # scaled by hand
  selector:
    matchLabels: {app: ` + name + `}
  template:
    metadata:
      labels: {app: ` + name + `}
    spec:
      containers:
        - name: web
          image: "` + image + `" # the tag image automation moves
          args: ["--port", "8080"]
`
}

// gitops runs the plugin directly, outside kubectl, with a cache of its own
// and no kubeconfig: git and registries need no cluster.
func gitops(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl-gitops"), args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + binDir,
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(t.TempDir(), "cache"),
		"KUBECONFIG=" + filepath.Join(home, "no-such-kubeconfig"),
		"DOCKER_CONFIG=" + filepath.Join(home, "docker"),
		"GIT_CONFIG_GLOBAL=" + filepath.Join(home, "gitconfig"),
	}
	return execute(t, cmd)
}

func mustGitops(t *testing.T, dir string, args ...string) result {
	t.Helper()
	r := gitops(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("kubectl-gitops %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// writeGitConfig gives the isolated HOME a git identity for commits.
func writeGitConfig(t *testing.T) {
	t.Helper()
	cfg := "[user]\n\tname = Test Operator\n\temail = operator@example.com\n"
	if err := os.WriteFile(filepath.Join(home, "gitconfig"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestImagesListsNewestAllowedTags(t *testing.T) {
	reg := newRegistry(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tag := range []string{"1.0.0", "1.0.1", "1.1.0", "latest"} {
		reg.push("demo/web", tag, base.Add(time.Duration(i)*time.Hour))
	}
	for i, tag := range []string{"build-1", "build-2", "other"} {
		reg.push("demo/worker", tag, base.Add(time.Duration(i)*time.Hour))
	}
	repo := newRepo(t, map[string]string{
		"deploy/web.yaml":    deploymentYAML("web", "  annotations:\n    fluxcd.io/tag.web: semver:~1.0\n", reg.host+"/demo/web:1.0.0"),
		"deploy/worker.yaml": deploymentYAML("worker", "  annotations:\n    filter.fluxcd.io/web: glob:build-*\n", reg.host+"/demo/worker:build-1"),
	})
	r := mustGitops(t, repo.dir, "images", "--repo", ".", "--path", "deploy", "-o", "json")
	var got []struct {
		Workload  string
		Container string
		Policy    string
		Latest    string
		Tags      []struct {
			Name    string
			Current bool
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(got) != 2 {
		t.Fatalf("got %d containers:\n%s", len(got), r.stdout)
	}
	web, worker := got[0], got[1]
	if web.Workload != "demo:deployment/web" || web.Latest != "1.0.1" || len(web.Tags) != 2 || web.Tags[0].Name != "1.0.1" || !web.Tags[1].Current {
		t.Fatalf("web: %+v (want newest allowed 1.0.1, then 1.0.0 in use)", web)
	}
	// Glob orders by creation time; "latest" and "other" are not allowed.
	if worker.Latest != "build-2" || len(worker.Tags) != 2 || worker.Policy != "glob:build-*" {
		t.Fatalf("worker: %+v", worker)
	}
	human := mustGitops(t, repo.dir, "images", "--repo", ".", "--path", "deploy", "--workload", "demo:deployment/web")
	if !strings.Contains(human.stdout, "'-> 1.0.0") || !strings.Contains(human.stdout, "1.0.1") || strings.Contains(human.stdout, "worker") {
		t.Fatalf("listing:\n%s", human.stdout)
	}
}

func TestImagesUpdateEditsOnlyTheTagAndCommits(t *testing.T) {
	writeGitConfig(t)
	reg := newRegistry(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tag := range []string{"1.0.0", "1.0.5", "2.0.0"} {
		reg.push("demo/web", tag, base.Add(time.Duration(i)*time.Hour))
	}
	automated := "  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.web: semver:^1\n"
	locked := "  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/locked: \"true\"\n"
	manual := "  annotations:\n    kubectl-gitops.dev/tag.web: semver:^1\n"
	old := reg.host + "/demo/web:1.0.0"
	files := map[string]string{
		"deploy/web.yaml":    deploymentYAML("web", automated, old),
		"deploy/locked.yaml": deploymentYAML("locked", locked, old),
		"deploy/manual.yaml": deploymentYAML("manual", manual, old),
	}
	repo := newRepo(t, files)
	before := repo.git("rev-parse", "HEAD")

	// --dry-run shows the diff and changes nothing.
	r := mustGitops(t, repo.dir, "images", "--update", "--dry-run", "--repo", ".", "--path", "deploy")
	if !strings.Contains(r.stdout, "-          image: \""+old+"\"") || !strings.Contains(r.stdout, "+          image: \""+reg.host+"/demo/web:1.0.5\"") {
		t.Fatalf("dry run diff:\n%s", r.stdout)
	}
	if repo.git("rev-parse", "HEAD") != before {
		t.Fatal("--dry-run committed")
	}

	r = mustGitops(t, repo.dir, "images", "--update", "--repo", ".", "--path", "deploy")
	if !strings.Contains(r.stdout, "demo/web 1.0.0 -> 1.0.5 (demo:deployment/web)") {
		t.Fatalf("update output:\n%s", r.stdout)
	}
	// Only the tag's bytes changed; the locked and manual ones are untouched.
	want := strings.Replace(files["deploy/web.yaml"], "web:1.0.0", "web:1.0.5", 1)
	if got := readFile(t, filepath.Join(repo.dir, "deploy/web.yaml")); got != want {
		t.Fatalf("deploy/web.yaml:\n%s\nwant:\n%s", got, want)
	}
	for _, f := range []string{"deploy/locked.yaml", "deploy/manual.yaml"} {
		if readFile(t, filepath.Join(repo.dir, f)) != files[f] {
			t.Fatalf("%s changed", f)
		}
	}
	msg := repo.git("log", "-1", "--format=%B")
	if !strings.Contains(msg, "Auto-release "+reg.host+"/demo/web:1.0.5") || !strings.Contains(msg, "demo/web 1.0.0 -> 1.0.5 (demo:deployment/web)") {
		t.Fatalf("commit message:\n%s", msg)
	}
	if author := repo.git("log", "-1", "--format=%an <%ae>"); author != "Test Operator <operator@example.com>" {
		t.Fatalf("author %q", author)
	}
	if st := repo.git("status", "--porcelain"); st != "" {
		t.Fatalf("work tree not clean after the commit:\n%s", st)
	}

	// Nothing more to do: no commit, exit 0.
	head := repo.git("rev-parse", "HEAD")
	mustGitops(t, repo.dir, "images", "--update", "--repo", ".", "--path", "deploy")
	if repo.git("rev-parse", "HEAD") != head {
		t.Fatal("a run with nothing to update committed")
	}

	// A manual release of a locked workload is refused without --force.
	r = gitops(t, repo.dir, "images", "--update", "--repo", ".", "--path", "deploy", "--workload", "demo:deployment/locked")
	if r.code == 0 || !strings.Contains(r.stderr, "locked") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("release of a locked workload: exit %d\n%s", r.code, r.stderr)
	}
	mustGitops(t, repo.dir, "images", "--update", "--repo", ".", "--path", "deploy", "--workload", "demo:deployment/locked", "--force")
	if !strings.Contains(readFile(t, filepath.Join(repo.dir, "deploy/locked.yaml")), "web:2.0.0") {
		t.Fatal("a forced manual release did not move the locked workload to the newest tag")
	}

	// --image releases exactly that tag to every unlocked workload using the repository.
	r = gitops(t, repo.dir, "images", "--update", "--repo", ".", "--path", "deploy", "--image", reg.host+"/demo/web:9.9.9")
	if r.code == 0 || !strings.Contains(r.stderr, "9.9.9") {
		t.Fatalf("release of a missing tag: exit %d\n%s", r.code, r.stderr)
	}
	mustGitops(t, repo.dir, "images", "--update", "--repo", ".", "--path", "deploy", "--image", reg.host+"/demo/web:2.0.0", "-m", "Roll out 2.0")
	if !strings.Contains(readFile(t, filepath.Join(repo.dir, "deploy/manual.yaml")), "web:2.0.0") || !strings.Contains(readFile(t, filepath.Join(repo.dir, "deploy/web.yaml")), "web:2.0.0") {
		t.Fatal("--image did not release 2.0.0 to the unlocked workloads")
	}
	if subject := repo.git("log", "-1", "--format=%s"); subject != "Roll out 2.0" {
		t.Fatalf("subject %q, want the -m message", subject)
	}
}

func TestImagesDigestPinsAndBadInput(t *testing.T) {
	writeGitConfig(t)
	reg := newRegistry(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d1 := reg.push("demo/pinned", "1.0.0", base)
	d2 := reg.push("demo/pinned", "1.1.0", base.Add(time.Hour))
	auto := "  annotations:\n    kubectl-gitops.dev/automated: \"true\"\n"
	repo := newRepo(t, map[string]string{
		"pinned.yaml": deploymentYAML("pinned", auto, reg.host+"/demo/pinned:1.0.0@"+d1),
		"digest.yaml": deploymentYAML("digest", auto, reg.host+"/demo/pinned@"+d1),
	})
	r := mustGitops(t, repo.dir, "images", "--update", "--repo", ".")
	if got := readFile(t, filepath.Join(repo.dir, "pinned.yaml")); !strings.Contains(got, "demo/pinned:1.1.0@"+d2) {
		t.Fatalf("the pinned image did not move with its digest:\n%s", got)
	}
	if got := readFile(t, filepath.Join(repo.dir, "digest.yaml")); !strings.Contains(got, "demo/pinned@"+d1) {
		t.Fatalf("a digest-only image was changed:\n%s", got)
	}
	list := mustGitops(t, repo.dir, "images", "--repo", ".")
	if !strings.Contains(list.stdout, "pinned by digest") {
		t.Fatalf("the digest-only image is not reported:\n%s\n%s", list.stdout, r.stdout)
	}

	// An invalid filter is an error naming the workload, never "any tag".
	bad := newRepo(t, map[string]string{"bad.yaml": deploymentYAML("bad", "  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.web: semver:not-a-version\n", reg.host+"/demo/pinned:1.0.0")})
	r = gitops(t, bad.dir, "images", "--update", "--repo", ".")
	if r.code == 0 || !strings.Contains(r.stderr, "demo:deployment/bad") || !strings.Contains(r.stderr, "semver:not-a-version") {
		t.Fatalf("invalid filter: exit %d\n%s", r.code, r.stderr)
	}

	// An unreachable registry names itself and the image, and nothing is committed;
	// the listing still shows the other images.
	mixed := newRepo(t, map[string]string{
		"ok.yaml":   deploymentYAML("ok", auto, reg.host+"/demo/pinned:1.0.0"),
		"gone.yaml": deploymentYAML("gone", auto, "127.0.0.1:1/demo/gone:1.0.0"),
	})
	head := mixed.git("rev-parse", "HEAD")
	r = gitops(t, mixed.dir, "images", "--update", "--repo", ".")
	if r.code == 0 || !strings.Contains(r.stderr, "127.0.0.1:1") || !strings.Contains(r.stderr, "demo/gone") {
		t.Fatalf("unreachable registry: exit %d\n%s", r.code, r.stderr)
	}
	if mixed.git("rev-parse", "HEAD") != head {
		t.Fatal("a run with a registry error committed")
	}
	r = gitops(t, mixed.dir, "images", "--repo", ".")
	if r.code == 0 || !strings.Contains(r.stdout, "1.1.0") {
		t.Fatalf("listing with one unreachable registry: exit %d\n%s", r.code, r.stdout)
	}
}

func TestImagesUpdatePushesToARemote(t *testing.T) {
	writeGitConfig(t)
	reg := newRegistry(t)
	reg.push("demo/web", "1.0.0", time.Now().Add(-time.Hour))
	reg.push("demo/web", "1.2.0", time.Now())
	work := newRepo(t, map[string]string{"web.yaml": deploymentYAML("web", "  annotations:\n    fluxcd.io/automated: \"true\"\n", reg.host+"/demo/web:1.0.0")})
	bare := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r := mustGitops(t, t.TempDir(), "images", "--update", "--repo", "file://"+bare, "--ref", "main")
	if !strings.Contains(r.stdout, "pushed") {
		t.Fatalf("output:\n%s", r.stdout)
	}
	show := exec.Command("git", "--git-dir", bare, "show", "main:web.yaml")
	out, err := show.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "demo/web:1.2.0") {
		t.Fatalf("remote main:web.yaml: %v\n%s", err, out)
	}
	log := exec.Command("git", "--git-dir", bare, "log", "--format=%s", "main")
	out, _ = log.CombinedOutput()
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 2 {
		t.Fatalf("remote history:\n%s", out)
	}
}

func TestImagesUsesTheClusterForRunningImagesAndPullSecrets(t *testing.T) {
	ns := namespace(t)
	open := newRegistry(t)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	open.push("demo/web", "1.0.0", created)
	open.push("demo/web", "1.1.0", created.Add(time.Hour))
	// The same registry behind basic auth: only the pull secret knows the password.
	locked := httptest.NewServer(basicAuth("puller", "s3cret", ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(locked.Close)
	host := strings.TrimPrefix(locked.URL, "http://")
	lockedReg := &testRegistry{t: t, host: host}
	// Push through the auth wrapper with the right credentials.
	lockedReg.pushAuth("demo/web", "1.0.0", created, "puller", "s3cret")
	lockedReg.pushAuth("demo/web", "1.2.0", created.Add(time.Hour), "puller", "s3cret")

	dockerconfig := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, base64.StdEncoding.EncodeToString([]byte("puller:s3cret")))
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\n  namespace: " + ns + "\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '" + dockerconfig + "'\n"
	web := strings.ReplaceAll(deploymentYAML("web", "", host+"/demo/web:1.0.0"), "namespace: demo", "namespace: "+ns)
	web = strings.Replace(web, "      containers:\n", "      imagePullSecrets:\n        - name: pull\n      containers:\n", 1)
	repo := newRepo(t, map[string]string{"secret.yaml": secret, "web.yaml": web})
	mustKubectl(t, "gitops", "sync", "--name", "images", "--repo", repo.dir, "-n", ns)

	// Without the cluster, the registry refuses, and the error names it and the image.
	r := gitops(t, repo.dir, "images", "--repo", ".")
	if r.code == 0 || !strings.Contains(r.stderr, host) || !strings.Contains(r.stderr, "demo/web") {
		t.Fatalf("without credentials: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, "s3cret") {
		t.Fatal("the password was printed")
	}
	// Through kubectl, with the cluster: the pull secret opens the registry,
	// and the running image is shown.
	r = mustKubectl(t, "gitops", "images", "--repo", repo.dir, "-n", ns, "-o", "json")
	var got []struct {
		Running string
		Latest  string
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 {
		t.Fatalf("%v\n%s\n%s", err, r.stdout, r.stderr)
	}
	if got[0].Running != host+"/demo/web:1.0.0" || got[0].Latest != "1.2.0" {
		t.Fatalf("images: %+v", got[0])
	}
}

// basicAuth guards a handler with HTTP basic auth.
func basicAuth(user, password string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pushAuth pushes like push, with credentials when user is set.
func (r *testRegistry) pushAuth(repo, tag string, created time.Time, user, password string) string {
	r.t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		r.t.Fatal(err)
	}
	if img, err = mutate.CreatedAt(img, v1.Time{Time: created}); err != nil {
		r.t.Fatal(err)
	}
	ref, err := name.NewTag(r.host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		r.t.Fatal(err)
	}
	var opts []ggcrremote.Option
	if user != "" {
		opts = append(opts, ggcrremote.WithAuth(&authn.Basic{Username: user, Password: password}))
	}
	if err := ggcrremote.Write(ref, img, opts...); err != nil {
		r.t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		r.t.Fatal(err)
	}
	return d.String()
}
