package helm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/registry"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testregistry"
)

// pushCharts pushes testChart's versions with Helm's own registry client
// to the distribution registry at host, under charts/app.
func pushCharts(t *testing.T, host, user, pass string, versions ...string) {
	t.Helper()
	c, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptBasicAuth(user, pass), registry.ClientOptWriter(os.Stderr),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		data := saveChartArchive(t, testChart(t, v), t.TempDir())
		if _, err := c.Push(data, host+"/charts/app:"+v); err != nil {
			t.Fatalf("helm push %s: %v", v, err)
		}
	}
}

// OCI charts in a real registry with auth, through a Flux v2
// HelmRepository of type oci and an OCIRepository chartRef.
func TestRenderChartFromOCIRegistry(t *testing.T) {
	host := testregistry.StartDistribution(t, "pusher", "push-pass")
	pushCharts(t, host, "pusher", "push-pass", "1.0.0", "1.2.0", "2.0.0")
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: oci-auth\n  namespace: apps\nstringData:\n  username: pusher\n  password: push-pass\n"
	files := map[string]string{
		"sources.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: oci
  namespace: apps
spec:
  type: oci
  url: oci://` + host + `/charts
  secretRef: {name: oci-auth}
---
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata:
  name: app
  namespace: apps
spec:
  url: oci://` + host + `/charts/app
  ref: {tag: 1.0.0}
  secretRef: {name: oci-auth}
`,
		"releases.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: semver
  namespace: apps
spec:
  chart:
    spec:
      chart: app
      version: '>=1.1 <2'
      sourceRef: {kind: HelmRepository, name: oci}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: tagged
  namespace: apps
spec:
  chartRef: {kind: OCIRepository, name: app}
`,
	}
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	writeFile(t, filepath.Join(dir, "secret.yaml"), secret)
	cache := t.TempDir()
	objs, err := renderTree(t, New(Options{FS: os.DirFS(dir), DefaultNamespace: "apps", CacheDir: cache}), dir)
	if err != nil {
		t.Fatal(err)
	}
	m := byName(objs)
	for release, version := range map[string]string{"semver": "1.2.0", "tagged": "1.0.0"} {
		cm, ok := m["ConfigMap/apps/"+release+"-app"]
		if !ok {
			t.Fatalf("no ConfigMap of %s among %q", release, names(objs))
		}
		if !strings.HasPrefix(cm.Origin.Chart, "app "+version+":") {
			t.Errorf("%s rendered %q, want app %s", release, cm.Origin.Chart, version)
		}
	}
	if cached, _ := filepath.Glob(filepath.Join(cache, "charts", "app-*.tgz")); len(cached) != 2 {
		t.Errorf("cached: %q", cached)
	}

	// Without the Secret, the registry refuses, and the error names the
	// release and the chart.
	if err := os.Remove(filepath.Join(dir, "secret.yaml")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sources.yaml"), strings.ReplaceAll(files["sources.yaml"], "  secretRef: {name: oci-auth}\n", ""))
	_, err = renderTree(t, New(Options{FS: os.DirFS(dir), DefaultNamespace: "apps"}), dir)
	if err == nil || !strings.Contains(err.Error(), "releases.yaml:1: HelmRelease apps/semver, chart app >=1.1 <2 (HelmRepository apps/oci)") || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("without credentials: err = %v", err)
	}
}
