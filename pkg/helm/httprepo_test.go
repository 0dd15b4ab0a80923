package helm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/repo"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// chartServer is a Helm repository on 127.0.0.1 serving index.yaml and the
// archives of testChart's versions, with basic auth, recording requests.
type chartServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newChartServer(t *testing.T, user, password string, versions ...string) *chartServer {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{}
	for _, v := range versions {
		files["/charts/app-"+v+".tgz"] = saveChartArchive(t, testChart(t, v), dir)
	}
	s := &chartServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.Path)
		s.mu.Unlock()
		if u, p, ok := r.BasicAuth(); user != "" && (!ok || u != user || p != password) {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(s.Close)
	idx, err := repo.IndexDirectory(dir, s.URL+"/charts")
	if err != nil {
		t.Fatal(err)
	}
	data, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	files["/index.yaml"] = data
	return s
}

func (s *chartServer) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

const hrV2 = `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: NAME
  namespace: apps
spec:
  chart:
    spec:
      chart: app
      version: VERSION
      sourceRef:
        kind: HelmRepository
        name: charts
  valuesFrom:
  - kind: Secret
    name: replicas
    valuesKey: count
    targetPath: replicas
`

func helmRepository(url string) string {
	return `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: apps
spec:
  url: ` + url + `
  secretRef:
    name: charts-auth
`
}

const authSecret = `apiVersion: v1
kind: Secret
metadata:
  name: charts-auth
  namespace: apps
stringData:
  username: reader
  password: s3cret
`

const replicasSecret = `apiVersion: v1
kind: Secret
metadata:
  name: replicas
  namespace: apps
data:
  count: NA==
`

func hrV2Doc(name, version string) string {
	return strings.NewReplacer("NAME", name, "VERSION", version).Replace(hrV2)
}

// Two HelmReleases of one HTTP repository with basic auth: the index is
// fetched once, the versions resolved, the charts cached by name, version
// and digest, and the repository's objects never rendered.
func TestRenderChartFromHTTPRepository(t *testing.T) {
	srv := newChartServer(t, "reader", "s3cret", "1.0.0", "1.2.0", "2.0.0")
	dir := t.TempDir()
	for name, data := range map[string]string{
		"a.yaml": hrV2Doc("one", "'~1.0'") + "---\n" + hrV2Doc("two", "'>=1.1.0 <2'"),
		"b.yaml": helmRepository(srv.URL) + "---\n" + authSecret + "---\n" + replicasSecret,
	} {
		writeFile(t, filepath.Join(dir, name), data)
	}
	cache := t.TempDir()
	r := New(Options{FS: os.DirFS(dir), DefaultNamespace: "apps", KubeVersion: "v1.37.2", CacheDir: cache})
	objs, err := renderTree(t, r, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := byName(objs)
	for name, version := range map[string]string{"one": "1.0.0", "two": "1.2.0"} {
		cm, ok := m["ConfigMap/apps/"+name+"-app"]
		if !ok {
			t.Fatalf("no ConfigMap of release %s among %q", name, names(objs))
		}
		if want := "a.yaml"; cm.Origin.File != want || !strings.Contains(cm.Origin.Chart, "app "+version) {
			t.Errorf("origin of %s: %+v, want %s and chart app %s", name, cm.Origin, want, version)
		}
		if got := cm.Object.Object["data"].(map[string]any)["replicas"]; got != "4" {
			t.Errorf("replicas = %v, want 4 from the Secret at targetPath", got)
		}
	}
	for k := range m {
		if strings.HasPrefix(k, "HelmRepository/") || strings.HasPrefix(k, "HelmRelease/") {
			t.Errorf("%s is among the objects", k)
		}
	}
	want := []string{"/index.yaml", "/charts/app-1.0.0.tgz", "/charts/app-1.2.0.tgz"}
	if got := srv.paths(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("requests %q, want %q", got, want)
	}
	cached, _ := filepath.Glob(filepath.Join(cache, "charts", "app-1.*-*.tgz"))
	if len(cached) != 2 {
		t.Errorf("cached charts: %q", cached)
	}

	// A new run fetches the index again, and the charts from the cache.
	r = New(Options{FS: os.DirFS(dir), DefaultNamespace: "apps", KubeVersion: "v1.37.2", CacheDir: cache})
	if _, err := renderTree(t, r, dir); err != nil {
		t.Fatal(err)
	}
	if got := srv.paths(); len(got) != 4 || got[3] != "/index.yaml" {
		t.Errorf("requests of the second run: %q, want only the index", got[3:])
	}
}

func TestRenderHTTPRepositoryErrors(t *testing.T) {
	srv := newChartServer(t, "reader", "s3cret", "1.0.0")
	for _, tc := range []struct{ name, version, secret, want string }{
		{"no such version", "9.9.9", authSecret, "a.yaml:1: HelmRelease apps/one, chart app 9.9.9 (HelmRepository apps/charts): no version 9.9.9 of chart app in " + srv.URL},
		{"wrong password", "1.0.0", strings.Replace(authSecret, "s3cret", "wrong", 1), "401 Unauthorized: check the credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "a.yaml"), hrV2Doc("one", tc.version))
			writeFile(t, filepath.Join(dir, "b.yaml"), helmRepository(srv.URL)+"---\n"+tc.secret+"---\n"+replicasSecret)
			_, err := renderTree(t, New(Options{FS: os.DirFS(dir), DefaultNamespace: "apps"}), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// An index that puts a chart on another host is refused before any
// request goes there.
func TestRenderHTTPRepositoryStaysOnItsHost(t *testing.T) {
	other := newChartServer(t, "", "", "1.0.0")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			_, _ = w.Write([]byte("apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    urls: [" + other.URL + "/charts/app-1.0.0.tgz]\n"))
		case "/moved/index.yaml":
			http.Redirect(w, r, other.URL+"/index.yaml", http.StatusFound)
		}
	}))
	defer srv.Close()
	r := New(Options{})
	if _, _, err := r.fetchHTTP(context.Background(), srv.URL, "app", "1.0.0", &basicAuth{"u", "p"}); err == nil || !strings.Contains(err.Error(), "on another host") {
		t.Errorf("chart on another host: err = %v", err)
	}
	if _, _, err := r.fetchHTTP(context.Background(), srv.URL+"/moved", "app", "1.0.0", nil); err == nil || !strings.Contains(err.Error(), "redirected to another host") {
		t.Errorf("redirect to another host: err = %v", err)
	}
	if got := other.paths(); len(got) != 0 {
		t.Errorf("the other host got requests: %q", got)
	}
}

// A source's Secret that is not in the repository is read from the
// cluster only when the options allow it.
func TestRenderSourceSecretFromTheCluster(t *testing.T) {
	srv := newChartServer(t, "reader", "s3cret", "1.0.0")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), hrV2Doc("one", "1.0.0"))
	writeFile(t, filepath.Join(dir, "b.yaml"), helmRepository(srv.URL)+"---\n"+replicasSecret)
	looked := 0
	lookup := func(_ context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
		looked++
		if kind != "Secret" || namespace != "apps" || name != "charts-auth" {
			return nil, nil
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": name},
			"data": map[string]any{"username": "cmVhZGVy", "password": "czNjcmV0"}}}, nil
	}
	_, err := renderTree(t, New(Options{FS: os.DirFS(dir), DefaultNamespace: "apps", Lookup: lookup}), dir)
	if err == nil || !strings.Contains(err.Error(), "read from the cluster only when the operator allows it") || looked != 0 || len(srv.paths()) != 0 {
		t.Fatalf("not allowed: err = %v, %d lookups, requests %q", err, looked, srv.paths())
	}
	objs, err := renderTree(t, New(Options{FS: os.DirFS(dir), DefaultNamespace: "apps", Lookup: lookup, SourceSecretsFromCluster: true}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := byName(objs)["ConfigMap/apps/one-app"]; !ok || looked != 1 {
		t.Fatalf("allowed: %d lookups, objects %q", looked, names(objs))
	}
}

func TestRenderValuesFromAnotherNamespaceIsRefused(t *testing.T) {
	hr := mustObject(t, strings.Replace(hrV1, "      name: web-values\n", "      name: web-values\n      namespace: kube-system\n", 1))
	_, err := newTestRenderer(t.TempDir()).Render(context.Background(), hr, nil)
	if err == nil || !strings.Contains(err.Error(), "hr.yaml:2: HelmRelease apps/web: spec.valuesFrom[0] names namespace kube-system") {
		t.Fatalf("err = %v", err)
	}
}

// A Flux v1 HelmRelease names its repository by URL; the credentials are
// those the operator configured for that URL.
func TestRenderFluxV1RepositoryWithOperatorCredentials(t *testing.T) {
	srv := newChartServer(t, "reader", "s3cret", "1.0.0")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "hr.yaml"), "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n  chart:\n    repository: "+srv.URL+"/\n    name: app\n    version: 1.0.0\n")
	var asked []string
	r := New(Options{FS: os.DirFS(dir), DefaultNamespace: "apps", RepositoryCredentials: func(url string) (string, string, bool) {
		asked = append(asked, url)
		return "reader", "s3cret", url == srv.URL+"/"
	}})
	objs, err := renderTree(t, r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := byName(objs)["ConfigMap/apps/apps-web-app"]; !ok {
		t.Errorf("objects %q", names(objs))
	}
	if len(asked) != 1 || asked[0] != srv.URL+"/" {
		t.Errorf("credentials asked for %q", asked)
	}
}
