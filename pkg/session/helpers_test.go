package session

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// isolate points HOME, the config and cache folders, git's identity and
// the kubeconfig at temporary ones. The kubeconfig names a server that is
// never reached: the use cases' cluster is a fake, and a look at the live
// cluster (images) fails at once.
func isolate(t *testing.T) kcmdutil.Factory {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("these tests build repositories with git, which is not on PATH (%v): install git", err)
	}
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME":                home,
		"XDG_CONFIG_HOME":     filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":      filepath.Join(home, ".cache"),
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "Test Author",
		"GIT_AUTHOR_EMAIL":    "author@example.com",
		"GIT_COMMITTER_NAME":  "Test Committer",
		"GIT_COMMITTER_EMAIL": "committer@example.com",
		"GIT_TERMINAL_PROMPT": "0",
	} {
		t.Setenv(k, v)
	}
	kubeconfig := filepath.Join(home, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: demo}}]
current-context: c
users: [{name: u, user: {token: t}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	flags := genericclioptions.NewConfigFlags(false)
	return kcmdutil.NewFactory(flags)
}

// git runs git in dir and returns its output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// repo makes a repository on branch main with one commit of files, and
// returns its folder and the commit.
func repo(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	return dir, commit(t, dir, "first", files)
}

// commit writes files into the work tree at dir and commits them.
func commit(t *testing.T, dir, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", msg)
	return git(t, dir, "rev-parse", "HEAD")
}

func configMap(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  key: " + value + "\n"
}

// fakeCluster is the cluster of the use cases' unit tests: a set read from
// memory, a real plan against a mapper that knows ConfigMaps, and applies
// that are recorded and answered by result.
type fakeCluster struct {
	set    *applyset.Set
	names  []string
	planFn func([]render.Object, apply.PlanOptions) (*apply.Plan, error)
	result func(apply.Options) (*apply.Result, error)
	syncs  []apply.Options
	loads  int
	member []apply.Member
}

func (f *fakeCluster) loadSet(_ context.Context, name, namespace string) (*applyset.Set, error) {
	f.loads++
	set := *f.set
	set.Name, set.Namespace = name, namespace
	return &set, nil
}

func (f *fakeCluster) setNames(context.Context, string) ([]string, error) { return f.names, nil }

func (f *fakeCluster) plan(objects []render.Object, opts apply.PlanOptions) (*apply.Plan, error) {
	if f.planFn != nil {
		return f.planFn(objects, opts)
	}
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	return apply.NewPlan(objects, m, opts)
}

func (f *fakeCluster) sync(_ context.Context, _ *applyset.Set, plan *apply.Plan, opts apply.Options) (*apply.Result, error) {
	f.syncs = append(f.syncs, opts)
	if f.result != nil {
		return f.result(opts)
	}
	res := &apply.Result{DryRun: opts.DryRun || opts.Diff}
	for _, it := range plan.Items {
		res.Lines = append(res.Lines, apply.Line{Object: it.ID, Action: apply.Unchanged})
	}
	res.Counts.Unchanged = len(plan.Items)
	return res, nil
}

func (f *fakeCluster) members(context.Context, *applyset.Set) ([]apply.Member, error) {
	return f.member, nil
}

// newSession returns a session on the fake cluster, in namespace demo.
func newSession(t *testing.T, factory kcmdutil.Factory, opts Options, c *fakeCluster) *Session {
	t.Helper()
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	s := New(factory, opts)
	if c != nil {
		s.cluster = c
	}
	s.namespace = "demo"
	return s
}

// named is the options of a session whose source is named by flag.
func named(name, repo, path string) Options {
	return Options{Name: name, Source: applyset.Source{Repo: repo, Path: path}, Named: sourcetrust.Named{Repo: true, Path: path != ""}}
}
