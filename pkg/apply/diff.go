package apply

import (
	"fmt"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// objectDiff returns the unified diff from the live object to the merged one
// (either may be nil), or "" when they are the same apart from what the API
// server maintains. Secret values are masked.
func objectDiff(id applyset.ObjectID, live, merged *unstructured.Unstructured) string {
	before, after := normalize(live), normalize(merged)
	if id.Group == "" && id.Kind == "Secret" {
		maskSecret(before, after)
	}
	a, b := toYAML(before), toYAML(after)
	if a == b {
		return ""
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(a),
		B:        difflib.SplitLines(b),
		FromFile: "live/" + id.String(),
		ToFile:   "git/" + id.String(),
		Context:  3,
	})
	if err != nil {
		return fmt.Sprintf("(no diff: %v)\n", err)
	}
	return d
}

// normalize drops what the API server maintains and what nobody applies.
func normalize(obj *unstructured.Unstructured) map[string]any {
	if obj == nil {
		return nil
	}
	o := obj.DeepCopy().Object
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"} {
		unstructured.RemoveNestedField(o, "metadata", f)
	}
	delete(o, "status")
	return o
}

// maskSecret replaces Secret values by stars, telling changed values apart.
func maskSecret(before, after map[string]any) {
	for _, key := range []string{"data", "stringData"} {
		b, _ := before[key].(map[string]any)
		a, _ := after[key].(map[string]any)
		for k, bv := range b {
			av, inAfter := a[k]
			switch {
			case !inAfter:
				b[k] = "***"
			case fmt.Sprint(av) == fmt.Sprint(bv):
				b[k], a[k] = "***", "***"
			default:
				b[k], a[k] = "*** (before)", "*** (after)"
			}
		}
		for k := range a {
			if _, inBefore := b[k]; !inBefore {
				a[k] = "***"
			}
		}
	}
}

func toYAML(obj map[string]any) string {
	if obj == nil {
		return ""
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Sprintf("(cannot show: %v)\n", err)
	}
	return string(out)
}
