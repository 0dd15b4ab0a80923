package helm

import (
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// testChart builds, with Helm's SDK, a chart with the hard parts: a
// subchart with its own values, crds/, hooks with weights and delete
// policies (and a test hook), .Capabilities checks, a schema, tpl and
// named templates, and a lookup.
func testChart(t *testing.T, version string) *chart.Chart {
	t.Helper()
	sub := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "sub", Version: "0.1.0", Type: "application"},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-sub
data:
  message: {{ .Values.message | quote }}
`)}},
	}
	setValues(t, sub, map[string]any{"message": "from-sub-defaults"})
	app := &chart.Chart{
		Metadata: &chart.Metadata{
			APIVersion: chart.APIVersionV2, Name: "app", Version: version, Type: "application",
			KubeVersion:  ">=1.20.0-0",
			Dependencies: []*chart.Dependency{{Name: "sub", Version: "0.1.0", Condition: "sub.enabled"}},
		},
		Schema: []byte(`{
  "$schema": "https://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["replicas"],
  "properties": {"replicas": {"type": "integer", "minimum": 1}}
}`),
		Templates: []*chart.File{
			{Name: "templates/_helpers.tpl", Data: []byte(`{{- define "app.fullname" -}}{{ .Release.Name }}-app{{- end -}}`)},
			{Name: "templates/cm.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "app.fullname" . }}
data:
  greeting: {{ tpl .Values.greeting . | quote }}
  release: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
  isInstall: {{ .Release.IsInstall | quote }}
  kube: {{ .Capabilities.KubeVersion.Version }}
  replicas: {{ .Values.replicas | quote }}
  lookup: {{ lookup "v1" "Secret" "kube-system" "anything" | toJson | quote }}
{{- if .Values.extra }}
  extra: {{ .Values.extra | quote }}
{{- end }}
`)},
			{Name: "templates/widget.yaml", Data: []byte(`{{- if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ include "app.fullname" . }}
{{- end }}
`)},
			{Name: "templates/pre.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: pre-{{ .Release.Name }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
`)},
			{Name: "templates/post.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: post-{{ .Release.Name }}
  annotations:
    helm.sh/hook: post-install
`)},
			{Name: "templates/tests/test.yaml", Data: []byte(`apiVersion: v1
kind: Pod
metadata:
  name: test-{{ .Release.Name }}
  annotations:
    helm.sh/hook: test
spec:
  containers: [{name: t, image: busybox}]
`)},
			{Name: "templates/NOTES.txt", Data: []byte(`Installed {{ .Release.Name }}.`)},
		},
		Files: []*chart.File{{Name: "crds/widgets.yaml", Data: []byte(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`)}},
	}
	setValues(t, app, map[string]any{
		"replicas": 1,
		"greeting": "hello from {{ .Release.Name }}",
		"sub":      map[string]any{"enabled": true},
	})
	app.AddDependency(sub)
	return app
}

func setValues(t *testing.T, c *chart.Chart, v map[string]any) {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	c.Values = v
	c.Raw = append(c.Raw, &chart.File{Name: chartutil.ValuesfileName, Data: data})
}

// saveChartDir writes c, as `helm create` would leave it, to dir/name.
func saveChartDir(t *testing.T, c *chart.Chart, dir string) {
	t.Helper()
	if err := chartutil.SaveDir(c, dir); err != nil {
		t.Fatal(err)
	}
}

// saveChartArchive writes c as a .tgz into dir and returns its bytes.
func saveChartArchive(t *testing.T, c *chart.Chart, dir string) []byte {
	t.Helper()
	p, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
