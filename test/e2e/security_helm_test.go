package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Attack tests for charts: a chart in the repository, and the repository's
// HelmReleases and sources, may not make the plugin read a file outside
// the commit, read the cluster from a template, or contact a host the
// HelmRelease does not name; and nothing is applied when they try.

// chartWith builds, with Helm's SDK, a chart named name holding templates
// and files.
func chartWith(name string, templates, files map[string]string) *chart.Chart {
	c := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: "0.1.0", Type: "application"}}
	for n, d := range templates {
		c.Templates = append(c.Templates, &chart.File{Name: n, Data: []byte(d)})
	}
	for n, d := range files {
		c.Files = append(c.Files, &chart.File{Name: n, Data: []byte(d)})
	}
	return c
}

func TestSecurityHelmChartReadsOnlyItsOwnFiles(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, nil)
	if err := chartutil.SaveDir(chartWith("snoop", map[string]string{"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: snoop-files
data:
  dotdot: {{ .Files.Get "../../../../../../etc/passwd" | quote }}
  absolute: {{ .Files.Get "/etc/passwd" | quote }}
  sibling: {{ .Files.Get "../../deploy/release.yaml" | quote }}
  glob: "{{ range $p, $_ := .Files.Glob "**" }}{{ $p }},{{ end }}"
  own: {{ .Files.Get "files/own.txt" | quote }}
`}, map[string]string{"files/own.txt": "mine"}), repo.dir+"/charts"); err != nil {
		t.Fatal(err)
	}
	release := helmReleaseV1("snoop", repo.dir, "x")
	release = strings.Replace(release, "charts/web", "charts/snoop", 1)
	repo.commit("a chart that reads files", map[string]string{"deploy/release.yaml": release})
	mustKubectl(t, "gitops", "sync", "--name", "snoop", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "snoop-files", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"dotdot": "", "absolute": "", "sibling": "", "glob": "files/own.txt,", "own": "mine"}
	for k, v := range want {
		if cm.Data[k] != v {
			t.Errorf("data.%s = %q, want %q: a template read a file that is not the chart's", k, cm.Data[k], v)
		}
	}
	before := configMapState(t, ns, "snoop-files")

	// A symbolic link in the chart, to a file outside the commit or inside
	// it, is refused before anything is applied.
	for _, target := range []string{"/etc/passwd", "../../../deploy/release.yaml"} {
		t.Run(target, func(t *testing.T) {
			link := repo.dir + "/charts/snoop/files/link.txt"
			_ = os.Remove(link)
			repo.commitLinks("a link in the chart", map[string]string{"charts/snoop/files/link.txt": target})
			repo.commit("and another object", map[string]string{"deploy/other.yaml": configMap("other", "v")})
			r := kubectl(t, "gitops", "sync", "--name", "snoop", "-n", ns)
			if r.code == 0 || !strings.Contains(r.stderr, "deploy/release.yaml:1") || !strings.Contains(r.stderr, "symbolic links in charts are not followed") {
				t.Fatalf("sync with a link in the chart: exit %d, want a failure naming the HelmRelease and the link\n%s%s", r.code, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, "root:") {
				t.Errorf("the output shows /etc/passwd:\n%s%s", r.stdout, r.stderr)
			}
			if got := configMapState(t, ns, "snoop-files"); got != before {
				t.Errorf("the chart's ConfigMap changed: %+v, was %+v", got, before)
			}
			if got := configMapState(t, ns, "other"); got.exists {
				t.Errorf("ConfigMap other was applied though the revision does not render")
			}
		})
	}
}

func TestSecurityHelmLookupReadsNothing(t *testing.T) {
	ns := namespace(t)
	if _, err := kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": "hunter2-in-the-cluster"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	repo := newRepo(t, nil)
	if err := chartutil.SaveDir(chartWith("peek", map[string]string{"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: peek-lookup
data:
  one: {{ lookup "v1" "Secret" .Release.Namespace "db" | toJson | quote }}
  every: {{ lookup "v1" "Secret" "" "" | toJson | quote }}
  nodes: {{ lookup "v1" "Node" "" "" | toJson | quote }}
`}, nil), repo.dir+"/charts"); err != nil {
		t.Fatal(err)
	}
	repo.commit("a chart that looks up a Secret", map[string]string{
		"deploy/release.yaml": strings.Replace(helmReleaseV1("peek", repo.dir, "x"), "charts/web", "charts/peek", 1),
	})
	mustKubectl(t, "gitops", "sync", "--name", "peek", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "peek-lookup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"one", "every", "nodes"} {
		if cm.Data[k] != "{}" {
			t.Errorf("lookup in data.%s returned %q, want {} (nothing)", k, cm.Data[k])
		}
	}
}

// chartHost is an HTTP server on 127.0.0.1 that records every request and
// then serves it with h.
type chartHost struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newChartHost(t *testing.T, h http.HandlerFunc) *chartHost {
	t.Helper()
	r := &chartHost{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Method+" "+req.URL.String()+" "+req.Header.Get("Authorization"))
		r.mu.Unlock()
		if h != nil {
			h(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *chartHost) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func TestSecurityHelmRepositoryContactsOnlyItsHost(t *testing.T) {
	ns := namespace(t)
	other := newRecorder(t) // answers 401 to everything, and records it
	archive, err := chartutil.Save(chartWith("app", map[string]string{"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"}, nil), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	named := newChartHost(t, func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "chart-repo-password" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/index.yaml":
			// The index puts the chart on another host.
			_, _ = w.Write([]byte("apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 0.1.0\n    urls: [" + other.URL + "/app-0.1.0.tgz]\n"))
		case "/moved/index.yaml":
			http.Redirect(w, r, other.URL+"/index.yaml", http.StatusFound)
		case "/app-0.1.0.tgz":
			_, _ = w.Write(data)
		}
	})
	source := func(url string) string {
		return `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
spec:
  url: ` + url + `
  secretRef:
    name: charts-auth
---
apiVersion: v1
kind: Secret
metadata:
  name: charts-auth
stringData:
  username: reader
  password: chart-repo-password
`
	}
	release := `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
spec:
  chart:
    spec:
      chart: app
      version: 0.1.0
      sourceRef: {kind: HelmRepository, name: charts}
`
	externalValues := `apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: app
spec:
  chart:
    repository: ` + named.URL + `
    name: app
    version: 0.1.0
  valuesFrom:
  - externalSourceRef:
      url: ` + other.URL + `/values.yaml
`
	repo := newRepo(t, map[string]string{"deploy/cm.yaml": configMap("bystander", "v")})
	for _, tc := range []struct{ name, release, source, want string }{
		{"index names another host", release, source(named.URL), "on another host"},
		{"redirect to another host", release, source(named.URL + "/moved"), "redirected to another host"},
		{"values from another host", externalValues, "", "externalSourceRef " + other.URL + "/values.yaml is not fetched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo.commit(tc.name, map[string]string{"deploy/release.yaml": tc.release, "deploy/source.yaml": tc.source + "\n"})
			r := kubectl(t, "gitops", "sync", "--name", "hosts", "--repo", repo.dir, "--path", "deploy", "-n", ns)
			if r.code == 0 || !strings.Contains(r.stderr, "deploy/release.yaml:1") || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("sync: exit %d, want a failure naming deploy/release.yaml:1 and %q\n%s%s", r.code, tc.want, r.stdout, r.stderr)
			}
			if got := other.got(); len(got) != 0 {
				t.Fatalf("a host the HelmRelease does not name got requests: %q", got)
			}
			if strings.Contains(r.stdout+r.stderr, "chart-repo-password") {
				t.Errorf("the output shows the repository's password:\n%s%s", r.stdout, r.stderr)
			}
			if configMapState(t, ns, "bystander").exists || configMapState(t, ns, "app").exists {
				t.Errorf("objects were applied though the revision does not render")
			}
		})
	}
	if len(named.requests()) == 0 {
		t.Errorf("the named repository got no request: the test proves nothing")
	}
}

// A HelmRepository of the repository naming a Secret that is only in the
// cluster: the Secret is a credential the repository's author may not
// hold, and the repository names the host it would go to. It is not read,
// and the host gets no request at all.
func TestSecurityHelmClusterSecretIsNotSentToARepositoryHost(t *testing.T) {
	ns := namespace(t)
	if _, err := kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry-creds"},
		StringData: map[string]string{"username": "reader", "password": "cluster-only-password"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := newAuthChartRepo(t, webChart(t, "1.0.0", false), "reader", "cluster-only-password")
	repo := newRepo(t, map[string]string{
		"deploy/source.yaml":  helmRepositoryWithSecret(srv.URL, "registry-creds"),
		"deploy/release.yaml": helmReleaseOfRepository("web", "1.0.0"),
		"deploy/cm.yaml":      configMap("bystander", "v"),
	})
	r := kubectl(t, "gitops", "sync", "--name", "creds", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	if r.code == 0 || !strings.Contains(r.stderr, "deploy/release.yaml:1") || !strings.Contains(r.stderr, "read from the cluster only when the operator allows it") {
		t.Fatalf("sync: exit %d, want a failure naming the HelmRelease and the Secret\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := srv.paths(); len(got) != 0 {
		t.Errorf("the host the repository names got requests: %q", got)
	}
	if strings.Contains(r.stdout+r.stderr, "cluster-only-password") {
		t.Errorf("the output shows the password")
	}
	if configMapState(t, ns, "bystander").exists {
		t.Errorf("objects were applied though the revision does not render")
	}
}
