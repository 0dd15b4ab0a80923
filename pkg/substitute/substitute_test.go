package substitute

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

func TestString(t *testing.T) {
	vars := map[string]string{"REGION": "eu", "EMPTY": "", "N": "3"}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"${REGION}", "eu"},
		{"x-${REGION}-${N}", "x-eu-3"},
		{"${MISSING}", ""},
		{"${MISSING:=def}", "def"},
		{"${MISSING:-def}", "def"},
		{"${EMPTY:=def}", "def"},
		{"${EMPTY=def}", ""},
		{"${MISSING=def}", "def"},
		{"${REGION:=def}", "eu"},
		{"$${REGION}", "${REGION}"},
		{"a $${REGION} b ${REGION}", "a ${REGION} b eu"},
		{"$REGION", "$REGION"},
		{"$$", "$$"},
	} {
		got, err := String(tc.in, Options{Variables: vars})
		if err != nil || got != tc.want {
			t.Errorf("String(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"${", "${1X}", "${A B}", "${A^^}", "${}"} {
		if _, err := String(in, Options{Variables: vars}); err == nil {
			t.Errorf("String(%q): no error", in)
		}
	}
	if _, err := String("${MISSING}", Options{Strict: true}); err == nil || !strings.Contains(err.Error(), "MISSING") {
		t.Errorf("strict: %v", err)
	}
	if got, err := String("${MISSING:=d}", Options{Strict: true}); err != nil || got != "d" {
		t.Errorf("strict with default: %q, %v", got, err)
	}
}

func obj(annotations map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"name": "web", "namespace": "apps"}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
		"data": map[string]any{"${REGION}": "${REGION}", "list": []any{"a-${REGION}", int64(3), true}},
	}}
}

func TestObjects(t *testing.T) {
	o := obj(nil)
	off := obj(map[string]any{FluxAnnotation: "disabled"})
	ours := obj(map[string]any{Annotation: "disabled"})
	objs := []render.Object{{Object: o}, {Object: off}, {Object: ours}}
	if err := Objects(objs, Options{Variables: map[string]string{"REGION": "eu"}, Strict: true}); err != nil {
		t.Fatal(err)
	}
	data := o.Object["data"].(map[string]any)
	if data["${REGION}"] != "eu" { // keys untouched, values substituted
		t.Errorf("data = %v", data)
	}
	if l := data["list"].([]any); l[0] != "a-eu" || l[1] != int64(3) || l[2] != true {
		t.Errorf("list = %v", l)
	}
	for _, u := range []*unstructured.Unstructured{off, ours} {
		if d := u.Object["data"].(map[string]any); d["${REGION}"] != "${REGION}" {
			t.Errorf("an opted-out object was substituted: %v", d)
		}
	}
}

func TestObjectsStrict(t *testing.T) {
	o := obj(nil)
	objs := []render.Object{{Object: o, Origin: render.Origin{File: "apps/web/cm.yaml"}}}
	err := Objects(objs, Options{Strict: true})
	if err == nil {
		t.Fatal("no error for an unset variable in strict mode")
	}
	for _, want := range []string{"apps/web/cm.yaml", "ConfigMap apps/web", "REGION"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if d := o.Object["data"].(map[string]any); d["${REGION}"] != "${REGION}" {
		t.Errorf("a failed object was changed: %v", d)
	}
	if err := Objects([]render.Object{{Object: obj(nil)}}, Options{}); err != nil {
		t.Errorf("not strict: %v", err)
	}
}

// A value repeated many times cannot blow the output up: a 1 MiB variable
// used in a few thousand strings is refused, quickly.
func TestObjectsBounded(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	list := make([]any, 5000)
	for i := range list {
		list[i] = strings.Repeat("${BIG}", 100)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "bomb"}, "data": map[string]any{"l": list}}}
	err := Objects([]render.Object{{Object: u}}, Options{Variables: map[string]string{"BIG": big}})
	if err == nil || !strings.Contains(err.Error(), "longer than 4 MiB") {
		t.Fatalf("error = %v", err)
	}
	if _, err := String(strings.Repeat("${BIG}", 10), Options{Variables: map[string]string{"BIG": big}, MaxBytes: 4 << 20}); err == nil {
		t.Error("one string over the bound passed")
	}
}
