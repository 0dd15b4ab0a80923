package apply

import (
	"encoding/base64"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

func object(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &obj.Object); err != nil {
		t.Fatal(err)
	}
	return obj
}

// A Secret written by kubectl apply keeps its values, in plain text, in the
// last-applied-configuration annotation; the diff must show none of them,
// old or new, and still show which changed.
func TestObjectDiffMasksSecretCopiesInAnnotations(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	id := applyset.ObjectID{Kind: "Secret", Namespace: "ns", Name: "s"}
	live := object(t, `
apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: ns
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","kind":"Secret","metadata":{"annotations":{},"name":"s","namespace":"ns"},"stringData":{"password":"old-plaintext","user":"admin-plaintext"}}
    kapp.k14s.io/original: '{"kind":"Secret","data":{"token":"`+b64("kapp-plaintext")+`"}}'
    note: plain
data:
  password: `+b64("old-plaintext")+`
  user: `+b64("admin-plaintext")+`
`)
	merged := live.DeepCopy()
	if err := unstructured.SetNestedField(merged.Object, b64("new-plaintext"), "data", "password"); err != nil {
		t.Fatal(err)
	}
	anns := merged.GetAnnotations()
	anns["kubectl.kubernetes.io/last-applied-configuration"] = `{"apiVersion":"v1","kind":"Secret","metadata":{"annotations":{},"name":"s","namespace":"ns"},"stringData":{"password":"new-plaintext","user":"admin-plaintext"}}` + "\n"
	anns["note"] = "changed"
	merged.SetAnnotations(anns)

	d := objectDiff(id, live, merged)
	for _, secret := range []string{"old-plaintext", "new-plaintext", "admin-plaintext", "kapp-plaintext"} {
		if strings.Contains(d, secret) || strings.Contains(d, b64(secret)) {
			t.Errorf("the diff shows %q:\n%s", secret, d)
		}
	}
	for _, want := range []string{
		`-  password: '*** (before)'`,
		`+  password: '*** (after)'`,
		`"password":"*** (before)"`,
		`"password":"*** (after)"`,
		`"user":"***"`,
		`"token":"***"`,
		`+    note: changed`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("the diff lacks %q:\n%s", want, d)
		}
	}

	// Objects that are not Secrets are shown as they are.
	cm := object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"k\":\"v1\"}}'\ndata:\n  k: v1\n")
	cm2 := cm.DeepCopy()
	cm2.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"k":"v2"}}`})
	if d := objectDiff(applyset.ObjectID{Kind: "ConfigMap", Name: "c"}, cm, cm2); !strings.Contains(d, `{"data":{"k":"v1"}}`) || !strings.Contains(d, `{"data":{"k":"v2"}}`) {
		t.Errorf("configmap diff:\n%s", d)
	}
}

// A last-applied-configuration that is not a JSON object is masked whole,
// with the same before/after marks; a created or pruned Secret shows only
// stars.
func TestObjectDiffMasksUnreadableLastApplied(t *testing.T) {
	id := applyset.ObjectID{Kind: "Secret", Name: "s"}
	live := object(t, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: 'password=old-plaintext'\n")
	merged := object(t, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: 'password=new-plaintext'\nstringData:\n  password: new-plaintext\n")
	d := objectDiff(id, live, merged)
	if strings.Contains(d, "plaintext") || !strings.Contains(d, "last-applied-configuration: '*** (before)'") || !strings.Contains(d, "last-applied-configuration: '*** (after)'") {
		t.Errorf("diff:\n%s", d)
	}
	for _, d := range []string{objectDiff(id, nil, merged), objectDiff(id, live, nil)} {
		if strings.Contains(d, "plaintext") || !strings.Contains(d, "'***'") {
			t.Errorf("diff:\n%s", d)
		}
	}
}
