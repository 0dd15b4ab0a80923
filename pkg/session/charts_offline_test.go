package session

import (
	"context"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// The use cases that read git only list the workloads a chart makes even
// when the cluster cannot say its version: the chart is rendered with Helm's
// defaults, and a note says so.
func TestWorkloadsOfAChartWithoutTheCluster(t *testing.T) {
	factory := isolate(t)
	files := map[string]string{
		"charts/web/Chart.yaml":            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"charts/web/values.yaml":           "image: registry.example.com/web:1.0.0\n",
		"charts/web/templates/deploy.yaml": automated("{{ .Release.Name }}", "{{ .Values.image }}"),
		"deploy/git.yaml":                  "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: config\nspec:\n  interval: 1m\n  url: URL\n  ref:\n    branch: main\n",
		"deploy/release.yaml":              "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n  interval: 5m\n  chart:\n    spec:\n      chart: ./charts/web\n      sourceRef:\n        kind: GitRepository\n        name: config\n",
	}
	dir, _ := repo(t, map[string]string{"README": "charts\n"})
	files["deploy/git.yaml"] = strings.Replace(files["deploy/git.yaml"], "URL", "file://"+dir, 1)
	commit(t, dir, "charts", files)
	var warnings strings.Builder
	opts := Options{Source: applyset.Source{Repo: dir, Path: "deploy"}, Named: sourcetrust.Named{Repo: true, Path: true}, Warnings: &warnings}
	list, err := newSession(t, factory, opts, nil).Workloads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Found) != 1 || list.Found[0].ID.String() != "demo:deployment/web" || list.Found[0].Containers[0].Image != "registry.example.com/web:1.0.0" {
		t.Fatalf("workloads %+v; want the chart's Deployment", list.Found)
	}
	if !strings.Contains(warnings.String(), "Helm's default Kubernetes version") {
		t.Errorf("warnings %q; want a note that the defaults were used", warnings.String())
	}
}
