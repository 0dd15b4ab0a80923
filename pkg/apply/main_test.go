package apply_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

// restConfig is the admin config of the package's real control plane.
var restConfig *rest.Config

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := cluster.Start(ctx, cluster.Options{Controllers: true})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test control plane:", err)
		os.Exit(1)
	}
	restConfig = c.RESTConfig
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
	}
	os.Exit(code)
}

// env is one test's view of the cluster: a namespace of its own and a set.
type env struct {
	t      *testing.T
	ctx    context.Context
	ns     string
	name   string
	client *apply.Client
	kube   kubernetes.Interface
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	kube := kubernetes.NewForConfigOrDie(restConfig)
	ns := strings.ToLower(strings.NewReplacer("_", "-", "/", "-").Replace(t.Name()))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	ns = strings.Trim(ns, "-")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	return &env{t: t, ctx: ctx, ns: ns, name: "set", client: newClient(t), kube: kube}
}

func newClient(t *testing.T) *apply.Client {
	t.Helper()
	disco := memory.NewMemCacheClient(kubernetes.NewForConfigOrDie(restConfig).Discovery())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(disco)
	c, err := apply.NewClient(restConfig, mapper)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// load reads the env's set from the cluster.
func (e *env) load() *applyset.Set {
	e.t.Helper()
	set, err := applyset.Load(e.ctx, e.kube.CoreV1(), e.name, e.ns, "v0.0.0-test")
	if err != nil {
		e.t.Fatalf("loading the set: %v", err)
	}
	return set
}

// plan renders files and plans them for the env's set.
func (e *env) plan(files map[string]string) (*apply.Plan, error) {
	e.t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	objects, err := render.Render(e.ctx, fsys, ".")
	if err != nil {
		return nil, err
	}
	return apply.NewPlan(objects, e.client.Mapper, apply.PlanOptions{DefaultNamespace: e.ns, SetID: applyset.ID(e.name, e.ns, applyset.ParentKind, "")})
}

// sync plans and syncs files, failing the test if the run cannot start.
func (e *env) sync(files map[string]string, opts apply.Options) *apply.Result {
	e.t.Helper()
	res, err := e.trySync(files, opts)
	if err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	return res
}

func (e *env) trySync(files map[string]string, opts apply.Options) (*apply.Result, error) {
	e.t.Helper()
	p, err := e.plan(files)
	if err != nil {
		return nil, err
	}
	if opts.Revision == "" {
		opts.Revision = "rev"
	}
	if opts.Source.Repo == "" {
		opts.Source = applyset.Source{Repo: "file:///repo", Path: "."}
	}
	return apply.Sync(e.ctx, e.client, e.load(), p, opts)
}

// actions maps "Kind/namespace/name" to the action taken.
func actions(res *apply.Result) map[string]apply.Action {
	out := map[string]apply.Action{}
	for _, l := range res.Lines {
		out[l.Object.String()] = l.Action
	}
	return out
}

func configMap(name string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n", name)
	for k, v := range data {
		fmt.Fprintf(&b, "  %s: %q\n", k, v)
	}
	return b.String()
}

func (e *env) getConfigMap(name string) (*corev1.ConfigMap, error) {
	return e.kube.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
}
