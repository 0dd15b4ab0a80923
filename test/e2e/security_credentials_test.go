package e2e

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testregistry"
)

// Credentials the operator gives the plugin stay on the machine: a password
// written into a repository URL reaches the git server whole and is shown,
// recorded and cached nowhere, and a registry answer fetched with a
// credential is never given to a run without it.

// credentialEnv is the plugin's environment for these tests: a HOME of the
// test's own, whose cache and config directories hold nothing but what
// these runs wrote, and extra.
func credentialEnv(h string, extra ...string) []string {
	return append([]string{
		"PATH=" + binDir,
		"HOME=" + h,
		"KUBECONFIG=" + kubeconfig,
		"XDG_CACHE_HOME=" + filepath.Join(h, ".cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(h, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
	}, extra...)
}

// secretFragments returns secret and every piece of it longer than 3
// characters that starts at its start or after one of the URL characters
// in it (":", "@", "?", "#", "/") and ends at its end or before one: what a
// parser cutting the URL at one of them would leave.
func secretFragments(secret string) []string {
	var starts, ends []int
	starts = append(starts, 0)
	for i, c := range secret {
		if strings.ContainsRune(":@?#/", c) {
			ends = append(ends, i)
			starts = append(starts, i+1)
		}
	}
	ends = append(ends, len(secret))
	seen := map[string]bool{}
	var out []string
	for _, s := range starts {
		for _, e := range ends {
			if e-s > 3 && !seen[secret[s:e]] {
				seen[secret[s:e]] = true
				out = append(out, secret[s:e])
			}
		}
	}
	return out
}

// leaks returns the fragments found in text.
func leaks(text string, fragments []string) []string {
	var found []string
	for _, f := range fragments {
		if strings.Contains(text, f) {
			found = append(found, f)
		}
	}
	return found
}

// filesHolding walks the directories and reports every file whose path or
// content holds a fragment; it returns the number of files it read.
func filesHolding(t *testing.T, fragments []string, dirs ...string) int {
	t.Helper()
	n := 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if f := leaks(p, fragments); len(f) > 0 {
				t.Errorf("the path %s holds %q", p, f)
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n++
			if f := leaks(string(b), fragments); len(f) > 0 {
				t.Errorf("%s holds %q", p, f)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walking %s: %v", dir, err)
		}
	}
	return n
}

// gitHTTPSServer serves the bare repositories under root with git's own
// http-backend over HTTPS, to user with password only; every password it
// is sent is recorded. It returns the server and the file holding its
// certificate, for SSL_CERT_FILE: the certificate is checked, not skipped.
type gitHTTPSServer struct {
	*httptest.Server
	certFile string
	mu       sync.Mutex
	seen     []string // "user:password" of each request with basic auth
}

func newGitHTTPSServer(t *testing.T, root, user, password string) *gitHTTPSServer {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"HOME=" + t.TempDir(),
			"GIT_CONFIG_NOSYSTEM=1",
		},
	}
	s := &gitHTTPSServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if ok {
			s.mu.Lock()
			s.seen = append(s.seen, u+":"+p)
			s.mu.Unlock()
		}
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	s.certFile = filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(s.certFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *gitHTTPSServer) sawCredentials(userPassword string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.seen {
		if c == userPassword {
			return true
		}
	}
	return false
}

func (s *gitHTTPSServer) credentialsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// A password with "#", "?", ":" and "@" written unescaped into --repo is
// read whole (the server gets it), and neither it nor a piece of it is
// printed by sync, diff or status, recorded in the set's parent ConfigMap,
// or written under the plugin's cache and config directories.
func TestSecurityCredentialsURLPasswordIsRedacted(t *testing.T) {
	// Like issue 11's example "2024#Win?t:er@x", which net/url reads as
	// host "alice", port 2024 and a fragment: its digits are longer here,
	// so that no port, resourceVersion, uid, timestamp or commit id can
	// hold them by chance.
	const user, password = "alice", "20241130#Win?t:er@x"
	const wrongPassword = "19991231#Sum?m:er@z"
	secrets := append(secretFragments(password), secretFragments(wrongPassword)...)
	for _, want := range []string{password, "20241130", "Win?t", "er@x", "Win?t:er@x", "20241130#Win"} {
		if len(leaks(want, secrets)) == 0 {
			t.Fatalf("the fragments %q lack %q", secrets, want)
		}
	}

	ns := namespace(t)
	work := newRepo(t, map[string]string{"deploy/a.yaml": configMap("a", "one")})
	root := t.TempDir()
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.dir, filepath.Join(root, "repo.git")).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	srv := newGitHTTPSServer(t, root, user, password)
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	clean := "https://" + hostPort + "/repo.git"
	withPassword := "https://" + user + ":" + password + "@" + hostPort + "/repo.git"
	withWrong := "https://" + user + ":" + wrongPassword + "@" + hostPort + "/repo.git"

	h := t.TempDir()
	env := credentialEnv(h, "SSL_CERT_FILE="+srv.certFile)
	var printed []string
	run := func(args ...string) result {
		t.Helper()
		r := kubectlEnv(t, env, 2*time.Minute, args...)
		printed = append(printed, "kubectl "+strings.Join(args, " ")+" stdout:\n"+r.stdout+"\nstderr:\n"+r.stderr)
		return r
	}
	// Output is checked for every piece of the passwords, with the
	// arguments (which hold them) left out.
	checkOutput := func(what string, r result) {
		t.Helper()
		if f := leaks(r.stdout+r.stderr, secrets); len(f) > 0 {
			t.Errorf("%s prints %q:\nstdout:\n%s\nstderr:\n%s", what, f, r.stdout, r.stderr)
		}
	}

	// The wrong password: refused by the server, which got it whole; the
	// error names the repository without it, and nothing is applied.
	r := run("gitops", "sync", "--name", "creds", "--repo", withWrong, "--path", "deploy", "-n", ns)
	checkOutput("sync with the wrong password", r)
	t.Logf("sync with the wrong password: exit %d\n%s", r.code, r.stderr)
	if r.code == 0 || !strings.Contains(r.stderr, clean) {
		t.Errorf("sync with the wrong password: exit %d, want a failure naming %s\nstdout:\n%s\nstderr:\n%s", r.code, clean, r.stdout, r.stderr)
	}
	if !srv.sawCredentials(user + ":" + wrongPassword) {
		t.Errorf("the server never got the wrong password whole; it got %q", srv.credentialsSeen())
	}
	if got := kubectlEnv(t, env, time.Minute, "get", "configmap", "a", "-n", ns); got.code == 0 {
		t.Errorf("a sync refused by the git server applied the ConfigMap a:\n%s", got.stdout)
	}

	// The right password: the server gets it whole, and the sync applies.
	r = run("gitops", "sync", "--name", "creds", "--repo", withPassword, "--path", "deploy", "-n", ns)
	checkOutput("sync", r)
	if r.code != 0 {
		t.Fatalf("sync with the right password: exit %d (the server got %q)\nstdout:\n%s\nstderr:\n%s", r.code, srv.credentialsSeen(), r.stdout, r.stderr)
	}
	if !srv.sawCredentials(user + ":" + password) {
		t.Errorf("the server never got the password whole; it got %q", srv.credentialsSeen())
	}
	if got := kubectlEnv(t, env, time.Minute, "get", "configmap", "a", "-n", ns, "-o", "jsonpath={.data.value}"); got.code != 0 || got.stdout != "one" {
		t.Errorf("the synced ConfigMap a: exit %d, value %q, want one\n%s", got.code, got.stdout, got.stderr)
	}

	// diff against the same URL: nothing differs.
	r = run("gitops", "diff", "--name", "creds", "--repo", withPassword, "--path", "deploy", "-n", ns)
	checkOutput("diff", r)
	if r.code != 0 {
		t.Errorf("diff after the sync: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// status shows the recorded source, without its credentials.
	r = run("gitops", "status", "--name", "creds", "-n", ns, "-o", "yaml")
	checkOutput("status -o yaml", r)
	if r.code != 0 || !strings.Contains(r.stdout, clean) {
		t.Errorf("status -o yaml: exit %d, want the source %s\nstdout:\n%s\nstderr:\n%s", r.code, clean, r.stdout, r.stderr)
	}

	// The parent ConfigMap records the source, without its credentials.
	parent := kubectlEnv(t, env, time.Minute, "get", "configmap", "creds", "-n", ns, "-o", "yaml")
	if parent.code != 0 {
		t.Fatalf("kubectl get configmap creds: exit %d\n%s", parent.code, parent.stderr)
	}
	if !strings.Contains(parent.stdout, clean) {
		t.Errorf("the parent ConfigMap does not record the source %s:\n%s", clean, parent.stdout)
	}
	if f := leaks(parent.stdout, secrets); len(f) > 0 {
		t.Errorf("the parent ConfigMap holds %q:\n%s", f, parent.stdout)
	}

	// The clone, its lock and the confirmed source are on disk, without
	// the password.
	dirs := []string{filepath.Join(h, ".cache"), filepath.Join(h, ".config")}
	if n := filesHolding(t, secrets, dirs...); n == 0 {
		t.Errorf("no file under %s: the clone and the confirmed source should be there", dirs)
	}
	if t.Failed() {
		t.Logf("what the commands printed:\n%s", strings.Join(printed, "\n"))
	}
}

// gitopsWith runs the plugin directly, like gitops, with the cache
// directory and Docker config given instead of fresh ones.
func gitopsWith(t *testing.T, dir, cache, dockerConfig string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl-gitops"), args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + binDir,
		"HOME=" + home,
		"XDG_CACHE_HOME=" + cache,
		"KUBECONFIG=" + filepath.Join(home, "no-such-kubeconfig"),
		"DOCKER_CONFIG=" + dockerConfig,
		"GIT_CONFIG_GLOBAL=" + filepath.Join(home, "gitconfig"),
	}
	return execute(t, cmd)
}

// dockerConfigDir writes a Docker config.json with the given auths (host
// to "user:password"; none for a config with no credentials) and returns
// its directory.
func dockerConfigDir(t *testing.T, auths map[string]string) string {
	t.Helper()
	entries := []string{}
	for host, userPass := range auths {
		entries = append(entries, fmt.Sprintf("%q:{%q:%q}", host, "auth", base64.StdEncoding.EncodeToString([]byte(userPass))))
	}
	dir := t.TempDir()
	cfg := `{"auths":{` + strings.Join(entries, ",") + `}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// What a registry behind a password answered to a run with the password
// is cached, but never given to a later run without it (or with a wrong
// one) sharing the cache: that run is refused by the registry, names it
// and the image, and commits nothing.
func TestSecurityCredentialsRegistryCacheIsKeyedByCredential(t *testing.T) {
	writeGitConfig(t)
	const user, pass = "puller", "registry-pa55-Qz7"
	host := testregistry.StartDistribution(t, user, pass)
	reg := &testRegistry{t: t, host: host}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg.pushAuth("demo/web", "1.0.0", created, user, pass)
	reg.pushAuth("demo/web", "1.1.0", created.Add(time.Hour), user, pass)

	image := host + "/demo/web"
	manifest := deploymentYAML("web", "  annotations:\n    fluxcd.io/automated: \"true\"\n", image+":1.0.0")
	repo := newRepo(t, map[string]string{"deploy/web.yaml": manifest})
	head := repo.git("rev-parse", "HEAD")
	cache := filepath.Join(t.TempDir(), "cache")
	valid := dockerConfigDir(t, map[string]string{host: user + ":" + pass})

	// With the credential: the registry answers, and the answer is cached.
	r := gitopsWith(t, repo.dir, cache, valid, "images", "--repo", ".")
	if r.code != 0 || !strings.Contains(r.stdout, "1.1.0") {
		t.Fatalf("images with the credential: exit %d, want a listing with 1.1.0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	tags, err := filepath.Glob(filepath.Join(cache, "kubectl-gitops", "registry", "tags", "*.json"))
	if err != nil || len(tags) == 0 {
		t.Fatalf("the registry's tag list is not cached under %s (%v): the runs below would not test the cache", cache, err)
	}

	// Without a credential, then with a wrong password, sharing the cache:
	// the registry refuses, the error names it and the image, and nothing
	// is committed or changed.
	for _, c := range []struct{ name, dockerConfig string }{
		{"no credential", dockerConfigDir(t, nil)},
		{"a wrong password", dockerConfigDir(t, map[string]string{host: user + ":not-the-pa55"})},
	} {
		name := c.name
		r := gitopsWith(t, repo.dir, cache, c.dockerConfig, "images", "--update", "--repo", ".")
		t.Logf("images --update with %s: exit %d\n%s", name, r.code, r.stderr)
		if r.code == 0 || !strings.Contains(r.stderr, "registry "+host+" refused access to "+image) {
			t.Errorf("images --update with %s: exit %d, want the registry %s refusing %s\nstdout:\n%s\nstderr:\n%s", name, r.code, host, image, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "1.1.0") || strings.Contains(r.stderr, "1.1.0") {
			t.Errorf("images --update with %s shows the tag 1.1.0 that only the credential can list:\nstdout:\n%s\nstderr:\n%s", name, r.stdout, r.stderr)
		}
		if got := repo.git("rev-parse", "HEAD"); got != head {
			t.Errorf("images --update with %s committed %s", name, got)
		}
		if got := readFile(t, filepath.Join(repo.dir, "deploy/web.yaml")); got != manifest {
			t.Errorf("images --update with %s changed deploy/web.yaml:\n%s", name, got)
		}
		if st := repo.git("status", "--porcelain"); st != "" {
			t.Errorf("images --update with %s left the work tree changed:\n%s", name, st)
		}
	}

	// The credential, and only it, still gets the update.
	r = gitopsWith(t, repo.dir, cache, valid, "images", "--update", "--repo", ".")
	if r.code != 0 || !strings.Contains(readFile(t, filepath.Join(repo.dir, "deploy/web.yaml")), image+":1.1.0") {
		t.Errorf("images --update with the credential: exit %d, want web moved to 1.1.0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// The cache holds neither the password nor the Docker config's
	// encoding of it.
	secrets := []string{pass, base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	if n := filesHolding(t, secrets, cache); n == 0 {
		t.Errorf("no file under %s", cache)
	}
}
