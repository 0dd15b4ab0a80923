package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// A Flux v1 repository keeps its charts next to its manifests. Syncing or
// listing the repository from its top reads the manifests and passes over
// the chart's directory, whose templates are not YAML.
func TestHelmChartDirectoriesAreNotManifests(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"apps/web.yaml":                    chartTestDeployment("web", "registry.example.com/demo/web:1.0.0"),
		"apps/cm.yaml":                     configMap("settings", "one"),
		"charts/app/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"charts/app/values.yaml":           "x: 1\n",
		"charts/app/templates/x.yaml":      "{{ .Values.x }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-chart\n",
		"charts/app/templates/_help.tpl":   "{{- define \"app.name\" -}}app{{- end }}\n",
		"charts/app/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
	})
	mustKubectl(t, "gitops", "sync", "--name", "charts", "--repo", repo.dir, "--path", ".", "-n", ns)
	mustKubectl(t, "get", "configmap", "settings", "-n", ns)
	mustKubectl(t, "get", "deployment", "web", "-n", ns)
	if r := kubectl(t, "get", "configmap", "from-chart", "-n", ns); r.code == 0 {
		t.Fatalf("the chart's template was applied as a manifest:\n%s", r.stdout)
	}

	r := mustKubectl(t, "gitops", "workloads", "--repo", repo.dir, "--path", ".", "-n", ns, "-o", "json")
	var listed []struct{ Workload, Origin string }
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(listed) != 1 || listed[0].Workload != ns+":deployment/web" || listed[0].Origin != "apps/web.yaml:1" {
		t.Fatalf("workloads lists %+v, want only %s:deployment/web at apps/web.yaml:1", listed, ns)
	}
}

// chartTestDeployment is a Deployment without a namespace.
func chartTestDeployment(name, image string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\nspec:\n  replicas: 1\n" +
		"  selector:\n    matchLabels: {app: " + name + "}\n  template:\n    metadata:\n      labels: {app: " + name + "}\n" +
		"    spec:\n      containers:\n      - name: " + name + "\n        image: " + image + "\n"
}

// webChart builds, with Helm's SDK, a chart whose version 1 has an extra
// ConfigMap that version 2 no longer renders.
func webChart(t *testing.T, version string, extra bool) *chart.Chart {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "web", Version: version, Type: "application"},
		Templates: []*chart.File{
			{Name: "templates/_helpers.tpl", Data: []byte(`{{- define "web.name" -}}{{ .Release.Name }}-web{{- end -}}`)},
			{Name: "templates/config.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "web.name" . }}
data:
  greeting: {{ .Values.greeting | quote }}
  color: {{ .Values.color | quote }}
  chart: {{ .Chart.Version | quote }}
`)},
		},
	}
	if extra {
		c.Templates = append(c.Templates, &chart.File{Name: "templates/extra.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "web.name" . }}-extra
`)})
	}
	values := map[string]any{"greeting": "hello", "color": "blue"}
	data, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	c.Values = values
	c.Raw = []*chart.File{{Name: chartutil.ValuesfileName, Data: data}}
	return c
}

// saveChart writes c into the work tree of r under charts/<name>.
func (r *repo) saveChart(c *chart.Chart) {
	r.t.Helper()
	if err := chartutil.SaveDir(c, filepath.Join(r.dir, "charts")); err != nil {
		r.t.Fatal(err)
	}
}

func helmReleaseV1(name, git, color string) string {
	return `apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: ` + name + `
spec:
  chart:
    git: ` + git + `
    path: charts/web
    ref: main
  values:
    color: ` + color + `
`
}

func helmReleaseV2(name string) string {
	return `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ` + name + `
spec:
  interval: 5m
  chart:
    spec:
      chart: ./charts/web
      sourceRef:
        kind: GitRepository
        name: config
  valuesFrom:
  - kind: ConfigMap
    name: v2-values
    valuesKey: greeting
    targetPath: greeting
`
}

func gitRepository(url string) string {
	return `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: config
spec:
  interval: 1m
  url: ` + url + `
  ref:
    branch: main
`
}

// A Flux v1 and a Flux v2 HelmRelease of a chart kept in the synced
// repository are synced as the objects their chart renders; diff says
// nothing changed, then that a changed value changes an object; a chart
// upgrade that no longer renders an object prunes it.
func TestHelmReleasesSyncDiffAndPrune(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, nil)
	repo.saveChart(webChart(t, "1.0.0", true))
	repo.commit("the web chart, and its releases", map[string]string{
		"deploy/v1.yaml":     helmReleaseV1("one", repo.dir, "green"),
		"deploy/v2.yaml":     helmReleaseV2("two"),
		"deploy/source.yaml": gitRepository("file://" + repo.dir),
		"deploy/values.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v2-values\ndata:\n  greeting: bonjour\n",
	})
	mustKubectl(t, "gitops", "sync", "--name", "charts", "--repo", repo.dir, "--path", "deploy", "-n", ns)

	// Flux v1's release name is <namespace>-<name>, Flux v2's the name.
	for name, want := range map[string]string{
		ns + "-one-web": "hello green 1.0.0",
		"two-web":       "bonjour blue 1.0.0",
	} {
		got := mustKubectl(t, "get", "configmap", name, "-n", ns, "-o", "jsonpath={.data.greeting} {.data.color} {.data.chart}").stdout
		if got != want {
			t.Errorf("ConfigMap %s holds %q, want %q", name, got, want)
		}
		mustKubectl(t, "get", "configmap", name+"-extra", "-n", ns)
	}
	mustKubectl(t, "get", "configmap", "v2-values", "-n", ns)

	if r := kubectl(t, "gitops", "diff", "--name", "charts", "-n", ns); r.code != 0 {
		t.Fatalf("diff right after sync: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	repo.commit("green to red", map[string]string{"deploy/v1.yaml": helmReleaseV1("one", repo.dir, "red")})
	r := kubectl(t, "gitops", "diff", "--name", "charts", "-n", ns)
	if r.code != 1 || !strings.Contains(r.stdout, "red") {
		t.Fatalf("diff after a value changed: exit %d, want 1 and the new value\n%s%s", r.code, r.stdout, r.stderr)
	}

	repo.saveChart(webChart(t, "2.0.0", false))
	repo.git("add", "-A")
	repo.commit("web 2.0.0 has no extra ConfigMap", map[string]string{
		"charts/web/templates/extra.yaml": "",
	})
	mustKubectl(t, "gitops", "sync", "--name", "charts", "-n", ns)
	for name, want := range map[string]string{
		ns + "-one-web": "hello red 2.0.0",
		"two-web":       "bonjour blue 2.0.0",
	} {
		got := mustKubectl(t, "get", "configmap", name, "-n", ns, "-o", "jsonpath={.data.greeting} {.data.color} {.data.chart}").stdout
		if got != want {
			t.Errorf("after the upgrade ConfigMap %s holds %q, want %q", name, got, want)
		}
		if r := kubectl(t, "get", "configmap", name+"-extra", "-n", ns); r.code == 0 {
			t.Errorf("ConfigMap %s-extra, which chart 2.0.0 no longer renders, was not pruned", name)
		}
	}
}

// A Flux v2 HelmRelease of a chart in an HTTP Helm repository with basic
// auth, whose Secret is in the repository: the chart is fetched from the
// repository the HelmRepository names, with those credentials, and
// synced; the HelmRepository and the HelmRelease are not applied.
func TestHelmReleaseFromHTTPRepository(t *testing.T) {
	ns := namespace(t)
	srv := newAuthChartRepo(t, webChart(t, "1.0.0", false), "reader", "repo-pass")
	repo := newRepo(t, map[string]string{
		"deploy/source.yaml":  helmRepositoryWithSecret(srv.URL, "repo-auth"),
		"deploy/secret.yaml":  "apiVersion: v1\nkind: Secret\nmetadata:\n  name: repo-auth\nstringData:\n  username: reader\n  password: repo-pass\n",
		"deploy/release.yaml": helmReleaseOfRepository("web", "'^1'"),
	})
	mustKubectl(t, "gitops", "sync", "--name", "http", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	if got := mustKubectl(t, "get", "configmap", "web-web", "-n", ns, "-o", "jsonpath={.data.greeting} {.data.chart}").stdout; got != "hi 1.0.0" {
		t.Errorf("ConfigMap web-web holds %q, want %q", got, "hi 1.0.0")
	}
	if got := srv.paths(); strings.Join(got, " ") != "/index.yaml /charts/web-1.0.0.tgz" {
		t.Errorf("the repository got %q", got)
	}
}

// authChartRepo is a Helm repository on 127.0.0.1 serving one chart with
// basic auth, recording the paths asked and whether they carried
// credentials.
type authChartRepo struct {
	*httptest.Server
	mu       sync.Mutex
	asked    []string
	withAuth int
}

func newAuthChartRepo(t *testing.T, c *chart.Chart, user, pass string) *authChartRepo {
	t.Helper()
	archive, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	s := &authChartRepo{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked = append(s.asked, r.URL.Path)
		if r.Header.Get("Authorization") != "" {
			s.withAuth++
		}
		s.mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/index.yaml":
			_, _ = w.Write([]byte("apiVersion: v1\nentries:\n  " + c.Name() + ":\n  - name: " + c.Name() + "\n    version: " + c.Metadata.Version +
				"\n    urls: [charts/" + c.Name() + "-" + c.Metadata.Version + ".tgz]\n"))
		case "/charts/" + c.Name() + "-" + c.Metadata.Version + ".tgz":
			_, _ = w.Write(tgz)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *authChartRepo) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

func helmRepositoryWithSecret(url, secret string) string {
	return "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\nspec:\n  url: " + url + "\n  secretRef:\n    name: " + secret + "\n"
}

func helmReleaseOfRepository(name, version string) string {
	return "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: " + name + "\nspec:\n  chart:\n    spec:\n      chart: web\n      version: " + version + "\n" +
		"      sourceRef: {kind: HelmRepository, name: charts}\n  values:\n    greeting: hi\n"
}
