// Package e2e runs the built plugin through kubectl, as a user would, with
// an isolated HOME, PATH and KUBECONFIG, against a real control plane.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

var (
	kubeconfig string
	binDir     string
	home       string
	kube       kubernetes.Interface
)

const testVersion = "v9.8.7-e2e"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "gitops-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binDir, home = filepath.Join(tmp, "bin"), filepath.Join(tmp, "home")
	for _, d := range []string{binDir, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "kubectl-gitops"),
		"-ldflags", "-X github.com/kubectl-gitops/kubectl-gitops/pkg/version.version="+testVersion,
		"github.com/kubectl-gitops/kubectl-gitops/cmd/kubectl-gitops")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the plugin: %v\n%s", err, out)
		return 1
	}
	if err := linkKubectl(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := cluster.Start(ctx, cluster.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test control plane:", err)
		return 1
	}
	defer c.Stop()
	kubeconfig = c.Kubeconfig
	kube = kubernetes.NewForConfigOrDie(c.RESTConfig)
	return m.Run()
}

// linkKubectl puts kubectl and git in the isolated PATH.
func linkKubectl() error {
	for _, name := range []string{"kubectl", "git", "sh"} {
		p, err := exec.LookPath(name)
		if err != nil && name == "kubectl" {
			p = filepath.Join(os.Getenv(cluster.EnvTestbin), "bin", "kubectl")
			_, err = os.Stat(p)
		}
		if err != nil {
			return fmt.Errorf("%s not found: run make testbin: %w", name, err)
		}
		if err := os.Symlink(p, filepath.Join(binDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// result is what a command did.
type result struct {
	stdout, stderr string
	code           int
}

// kubectl runs kubectl with the isolated environment.
func kubectl(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl"), args...)
	cmd.Env = []string{
		"PATH=" + binDir,
		"HOME=" + home,
		"KUBECONFIG=" + kubeconfig,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"GIT_CONFIG_NOSYSTEM=1",
	}
	return execute(t, cmd)
}

// execute runs a command and returns its output and exit status; a command
// that cannot start fails the test.
func execute(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("%v: %v", cmd.Args, err)
		}
		code = exit.ExitCode()
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// mustKubectl runs kubectl and fails the test unless it exits 0.
func mustKubectl(t *testing.T, args ...string) result {
	t.Helper()
	r := kubectl(t, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// repo is a git work tree made for a test.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T, files map[string]string) *repo {
	t.Helper()
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("initial", files)
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// write writes files into the work tree without committing them.
func (r *repo) write(files map[string]string) {
	r.t.Helper()
	for name, data := range files {
		p := filepath.Join(r.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if data == "" {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit writes files (an empty content deletes the file) and commits them,
// returning the new revision.
func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	r.write(files)
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// namespace creates a namespace named after the test and returns its name.
func namespace(t *testing.T) string {
	t.Helper()
	ns := strings.ToLower(strings.NewReplacer("_", "-", "/", "-").Replace(t.Name()))
	if len(ns) > 50 {
		ns = strings.Trim(ns[:50], "-")
	}
	mustKubectl(t, "create", "namespace", ns)
	return ns
}

func configMap(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  value: " + value + "\n"
}
