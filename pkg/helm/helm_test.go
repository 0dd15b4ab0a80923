package helm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

const syncedRepo = "https://git.example.com/team/config.git"

// repoWithChart writes a repository tree holding testChart at charts/app
// and files, and returns its directory.
func repoWithChart(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	saveChartDir(t, testChart(t, "1.2.0"), filepath.Join(dir, "charts"))
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	return dir
}

func newTestRenderer(dir string) *Renderer {
	return New(Options{
		FS:               os.DirFS(dir),
		SameRepository:   func(url string) bool { return url == syncedRepo },
		DefaultNamespace: "apps",
		KubeVersion:      "v1.37.2",
		APIVersions:      []string{"example.com/v1", "example.com/v1/Widget"},
	})
}

// renderTree renders dir as a sync would, with charts.
func renderTree(t *testing.T, r *Renderer, dir string) ([]render.Object, error) {
	t.Helper()
	return render.RenderWith(context.Background(), os.DirFS(dir), ".", render.Options{Charts: r.Render})
}

// byName indexes objects by "Kind/namespace/name".
func byName(objs []render.Object) map[string]render.Object {
	m := map[string]render.Object{}
	for _, o := range objs {
		m[o.Object.GetKind()+"/"+o.Object.GetNamespace()+"/"+o.Object.GetName()] = o
	}
	return m
}

func names(objs []render.Object) []string {
	var s []string
	for _, o := range objs {
		s = append(s, o.Object.GetKind()+"/"+o.Object.GetNamespace()+"/"+o.Object.GetName())
	}
	return s
}

const hrV1 = `# A Flux v1 release of the chart kept in this repository.
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: web
  namespace: apps
spec:
  targetNamespace: front
  chart:
    git: ` + syncedRepo + `
    path: charts/app
    ref: master
  valuesFrom:
  - configMapKeyRef:
      name: web-values
  - secretKeyRef:
      name: missing
      optional: true
  values:
    sub:
      message: from-release
`

const valuesCM = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-values
  namespace: apps
data:
  values.yaml: |
    replicas: 3
    extra: from-configmap
    sub:
      message: overridden-by-inline
`

func TestRenderFluxV1ChartOfTheRepository(t *testing.T) {
	dir := repoWithChart(t, map[string]string{"apps/values.yaml": valuesCM, "apps/web.yaml": hrV1})
	objs, err := renderTree(t, newTestRenderer(dir), dir)
	if err != nil {
		t.Fatal(err)
	}
	// The chart's directory is not read as manifests, the HelmRelease is
	// replaced, and the order is: the ConfigMap of values (its file comes
	// first), then CRDs, PreSync hooks, objects, PostSync hooks; no test
	// hook, no NOTES.txt.
	release := "apps-front-web" // helm-operator: <ns>-<targetNamespace>-<name>
	want := []string{
		"ConfigMap/apps/web-values",
		"CustomResourceDefinition//widgets.example.com",
		"ConfigMap/front/pre-" + release,
		"ConfigMap/front/" + release + "-sub",
		"ConfigMap/front/" + release + "-app",
		"Widget/front/" + release + "-app",
		"ConfigMap/front/post-" + release,
	}
	if got := names(objs); !slices.Equal(got, want) {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	m := byName(objs)
	cm := m["ConfigMap/front/"+release+"-app"]
	data := cm.Object.Object["data"].(map[string]any)
	for k, v := range map[string]string{
		"greeting":  "hello from " + release, // tpl of a value
		"release":   release,
		"namespace": "front",
		"isInstall": "true",
		"kube":      "v1.37.2",
		"replicas":  "3",              // valuesFrom over the chart's default
		"extra":     "from-configmap", // valuesFrom
		"lookup":    "{}",             // lookup returns nothing
	} {
		if data[k] != v {
			t.Errorf("data.%s = %v, want %q", k, data[k], v)
		}
	}
	sub := m["ConfigMap/front/"+release+"-sub"].Object.Object["data"].(map[string]any)
	if sub["message"] != "from-release" {
		t.Errorf("the subchart's message is %v, want the inline value over valuesFrom and the subchart's default", sub["message"])
	}
	if got, want := cm.Origin.String(), "apps/web.yaml:2 (chart app 1.2.0: app/templates/cm.yaml)"; got != want {
		t.Errorf("origin %q, want %q", got, want)
	}
}

func TestRenderReleaseHooksAndCRDs(t *testing.T) {
	dir := repoWithChart(t, nil)
	r := newTestRenderer(dir)
	hr := mustObject(t, strings.Replace(hrV1, "  valuesFrom:", "  skipCRDs: true\n  valuesFrom:", 1))
	hr.Object.Object["spec"].(map[string]any)["valuesFrom"] = nil
	rel, err := r.RenderRelease(context.Background(), hr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rel.CRDs) != 0 {
		t.Errorf("skipCRDs: got %d CRDs", len(rel.CRDs))
	}
	var got []string
	for _, h := range rel.Hooks {
		got = append(got, h.Object.GetName()+" "+string(h.Phase)+" "+strings.Join(h.DeletePolicies, ",")+" "+strings.Join(h.Events, ","))
		if h.Phase == PreSync && h.Weight != -5 {
			t.Errorf("hook %s weight %d, want -5", h.Object.GetName(), h.Weight)
		}
	}
	slices.Sort(got)
	want := []string{
		"post-apps-front-web PostSync  post-install",
		"pre-apps-front-web PreSync before-hook-creation,hook-succeeded pre-install,pre-upgrade",
		"test-apps-front-web Never  test",
	}
	if !slices.Equal(got, want) {
		t.Errorf("hooks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	objs, err := r.Render(context.Background(), hr, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Object.GetKind() == "Pod" || o.Object.GetKind() == "CustomResourceDefinition" {
			t.Errorf("Render returned %s %s", o.Object.GetKind(), o.Object.GetName())
		}
	}
}

func TestRenderCapabilitiesComeFromOptions(t *testing.T) {
	dir := repoWithChart(t, nil)
	r := New(Options{FS: os.DirFS(dir), SameRepository: func(string) bool { return true }, KubeVersion: "v1.19.4"})
	hr := mustObject(t, hrV1)
	hr.Object.Object["spec"].(map[string]any)["valuesFrom"] = nil
	_, err := r.Render(context.Background(), hr, nil)
	if err == nil || !strings.Contains(err.Error(), "kubeVersion >=1.20.0-0") {
		t.Fatalf("a cluster older than the chart's kubeVersion: err = %v", err)
	}
	r = New(Options{FS: os.DirFS(dir), SameRepository: func(string) bool { return true }, KubeVersion: "v1.30.1"})
	objs, err := r.Render(context.Background(), hr, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Object.GetKind() == "Widget" {
			t.Errorf("a Widget was rendered though the cluster serves no example.com/v1")
		}
		if o.Object.GetName() == "apps-front-web-app" && o.Object.Object["data"].(map[string]any)["kube"] != "v1.30.1" {
			t.Errorf("kube = %v", o.Object.Object["data"])
		}
	}
}

func TestRenderErrorsNameTheReleaseAndChart(t *testing.T) {
	dir := repoWithChart(t, map[string]string{
		"apps/values.yaml": valuesCM,
		"apps/web.yaml":    strings.Replace(hrV1, "    sub:\n", "    replicas: 0\n    sub:\n", 1),
		"other/x.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: nosource
spec:
  chart:
    spec:
      chart: app
      sourceRef: {kind: HelmRepository, name: nowhere}
`,
		"other/bucket.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: Bucket\nmetadata:\n  name: b\n",
	})
	_, err := renderTree(t, newTestRenderer(dir), dir)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"apps/web.yaml:2: HelmRelease apps/web, chart app 1.2.0 (charts/app): values don't meet the specifications of the schema",
		"other/x.yaml:1: HelmRelease nosource, chart app (HelmRepository apps/nowhere): HelmRepository apps/nowhere is not in the repository",
		"other/bucket.yaml:1: Bucket b: kubectl gitops renders charts from HelmRepository and GitRepository sources only",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error:\n%s\nwant it to contain:\n%s", msg, want)
		}
	}
	var re *render.Error
	if !errors.As(err, &re) {
		t.Errorf("error is no *render.Error: %T", err)
	}
}

func TestRenderChartFromAnotherGitRepositoryIsRefused(t *testing.T) {
	dir := repoWithChart(t, map[string]string{"apps/web.yaml": strings.Replace(hrV1, syncedRepo, "https://elsewhere.example.com/x.git", 1)})
	_, err := renderTree(t, newTestRenderer(dir), dir)
	if err == nil || !strings.Contains(err.Error(), "not the synced repository") {
		t.Fatalf("err = %v", err)
	}
}

func TestReleaseNames(t *testing.T) {
	for _, tc := range []struct{ doc, want, ns string }{
		{"apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: web}\nspec: {chart: {git: x, path: c}}\n", "apps-web", "apps"},
		{"apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: web, namespace: a}\nspec: {releaseName: mine, chart: {git: x, path: c}}\n", "mine", "a"},
		{"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: web}\nspec: {chart: {spec: {chart: c, sourceRef: {kind: GitRepository, name: g}}}}\n", "web", "apps"},
		{"apiVersion: helm.toolkit.fluxcd.io/v2beta1\nkind: HelmRelease\nmetadata: {name: web}\nspec: {targetNamespace: t, chart: {spec: {chart: c, sourceRef: {kind: GitRepository, name: g}}}}\n", "t-web", "t"},
		{"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: a-very-long-release-name-that-goes-on-and-on}\nspec: {targetNamespace: and-a-long-namespace, chart: {spec: {chart: c, sourceRef: {kind: GitRepository, name: g}}}}\n",
			"and-a-long-namespace-a-very-long-release-11512cfbbc2c", "and-a-long-namespace"},
	} {
		s, err := parseRelease(mustObject(t, tc.doc).Object, "apps")
		if err != nil {
			t.Fatal(err)
		}
		if s.releaseName != tc.want || s.targetNS != tc.ns {
			t.Errorf("release %s in %s, want %s in %s:\n%s", s.releaseName, s.targetNS, tc.want, tc.ns, tc.doc)
		}
	}
}

func mustObject(t *testing.T, doc string) render.Object {
	t.Helper()
	objs, err := render.Render(context.Background(), mapFS(map[string]string{"hr.yaml": doc}), ".")
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v %v", objs, err)
	}
	return objs[0]
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

// A Flux v2 HelmRelease of a GitRepository of the synced repository, with
// valuesFile and valuesFiles of the repository replacing the chart's
// values.yaml, and a
// Flux v1 chartFileRef read from the chart; .helmignore is honoured.
func TestRenderValuesFilesAndChartFileRef(t *testing.T) {
	dir := repoWithChart(t, map[string]string{
		"charts/app/.helmignore":      "ignored/\n",
		"charts/app/ignored/big.yaml": "extra: from-an-ignored-file\n",
		"charts/app/values-prod.yaml": "replicas: 7\ngreeting: prod\nsub: {enabled: false}\n",
		"charts/app/overrides.yaml":   "extra: from-valuesFiles\n",
		"apps/source.yaml":            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: config\nspec:\n  url: " + syncedRepo + "\n",
		"apps/v2.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: v2
spec:
  chart:
    spec:
      chart: ./charts/app
      sourceRef: {kind: GitRepository, name: config}
      valuesFile: charts/app/values-prod.yaml
      valuesFiles: [charts/app/overrides.yaml]
`,
		"apps/v1.yaml": `apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: v1
spec:
  releaseName: v1
  chart: {git: ` + syncedRepo + `, path: charts/app}
  valuesFrom:
  - chartFileRef: {path: values-prod.yaml}
  - chartFileRef: {path: ignored/big.yaml, optional: true}
`,
	})
	objs, err := renderTree(t, newTestRenderer(dir), dir)
	if err != nil {
		t.Fatal(err)
	}
	m := byName(objs)
	for name, want := range map[string]map[string]any{
		"ConfigMap/apps/v2-app": {"replicas": "7", "greeting": "prod", "extra": "from-valuesFiles"},
		"ConfigMap/apps/v1-app": {"replicas": "7", "greeting": "prod", "extra": nil},
	} {
		o, ok := m[name]
		if !ok {
			t.Fatalf("no %s among %q", name, names(objs))
		}
		data := o.Object.Object["data"].(map[string]any)
		for k, v := range want {
			if data[k] != v {
				t.Errorf("%s data.%s = %v, want %v", name, k, data[k], v)
			}
		}
	}
	if _, ok := m["ConfigMap/apps/v2-sub"]; ok {
		t.Errorf("the subchart was rendered though values-prod.yaml disables it")
	}
	if _, ok := m["GitRepository/apps/config"]; ok {
		t.Errorf("the GitRepository is among the objects")
	}
}

func TestRenderHelmLabelsOnlyWhenAsked(t *testing.T) {
	dir := repoWithChart(t, nil)
	hr := mustObject(t, hrV1)
	hr.Object.Object["spec"].(map[string]any)["valuesFrom"] = nil
	for _, helmLabels := range []bool{false, true} {
		r := newTestRenderer(dir)
		r.opts.HelmLabels = helmLabels
		objs, err := r.Render(context.Background(), hr, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			_, hook := o.Object.GetAnnotations()["helm.sh/hook"]
			wantLabels := helmLabels && !hook && o.Object.GetKind() != "CustomResourceDefinition"
			got := o.Object.GetLabels()["app.kubernetes.io/managed-by"] == "Helm" &&
				o.Object.GetAnnotations()["meta.helm.sh/release-name"] == "apps-front-web" &&
				o.Object.GetAnnotations()["meta.helm.sh/release-namespace"] == "front"
			if got != wantLabels {
				t.Errorf("HelmLabels %v: %s %s has Helm's metadata: %v, want %v", helmLabels, o.Object.GetKind(), o.Object.GetName(), got, wantLabels)
			}
		}
	}
}
