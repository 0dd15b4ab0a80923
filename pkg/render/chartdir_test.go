package render

import (
	"context"
	"testing"
	"testing/fstest"
)

// A Flux v1 repository keeps its charts next to its manifests; their
// templates are not YAML until Helm renders them.
func TestRenderSkipsChartDirectories(t *testing.T) {
	fsys := fstest.MapFS{
		"apps/cm.yaml":                           configMap("app"),
		"charts/app/Chart.yaml":                  file("apiVersion: v2", "name: app", "version: 0.1.0"),
		"charts/app/values.yaml":                 file("x: 1"),
		"charts/app/templates/x.yaml":            file("{{ .Values.x }}", "apiVersion: v1"),
		"charts/app/charts/sub/Chart.yaml":       file("apiVersion: v2", "name: sub", "version: 0.1.0"),
		"charts/app/charts/sub/templates/y.yaml": file("{{- include \"y\" . }}"),
		"charts/notachart/cm.yaml":               configMap("kept"),
		// A directory named Chart.yaml makes no chart.
		"odd/Chart.yaml/cm.yaml": configMap("odd"),
	}
	objs, err := Render(context.Background(), fsys, ".")
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Origin.String()+" "+o.Object.GetName())
	}
	want := []string{"apps/cm.yaml:1 app", "charts/notachart/cm.yaml:1 kept", "odd/Chart.yaml/cm.yaml:1 odd"}
	if len(got) != len(want) {
		t.Fatalf("objects = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("objects = %q, want %q", got, want)
		}
	}
}
