package e2e

import (
	"encoding/json"
	"testing"
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
