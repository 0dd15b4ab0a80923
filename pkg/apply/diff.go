package apply

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	corev1 "k8s.io/api/core/v1"
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

// Masks, as kubectl diff writes them: a value that is the same on both sides
// is "***", one that changed is "*** (before)" and "*** (after)".
const (
	maskSame   = "***"
	maskBefore = "*** (before)"
	maskAfter  = "*** (after)"
)

// maskSecret replaces a Secret's values by stars, telling changed values
// apart, wherever they show: data and stringData, and copies of the object
// in annotations. kubectl apply (and so Flux v1, Argo CD, ...) keeps the
// whole object as last applied, values in plain text, in the annotation
// kubectl.kubernetes.io/last-applied-configuration; kapp keeps one in
// kapp.k14s.io/original. An annotation holding a JSON object with data or
// stringData has those masked inside it; last-applied-configuration, when
// it cannot be read as such, is masked whole. kubectl diff masks data only.
func maskSecret(before, after map[string]any) {
	maskValues(before, after)
	ba := annotationsOf(before)
	aa := annotationsOf(after)
	for _, k := range unionKeys(ba, aa) {
		bv, bok := ba[k].(string)
		av, aok := aa[k].(string)
		bObj, bCopy := objectCopy(bv)
		aObj, aCopy := objectCopy(av)
		switch {
		case (!bok || bCopy) && (!aok || aCopy):
			maskValues(bObj, aObj)
			if bok {
				ba[k] = marshalCopy(bObj, bv)
			}
			if aok {
				aa[k] = marshalCopy(aObj, av)
			}
		case k == corev1.LastAppliedConfigAnnotation || bCopy || aCopy:
			// Unreadable, or a copy on one side only: mask it whole.
			bm, am := mask(bv, av, bok, aok)
			if bok {
				ba[k] = bm
			}
			if aok {
				aa[k] = am
			}
		}
	}
}

// maskValues masks the values of data and stringData in two versions of a
// Secret (either may be nil).
func maskValues(before, after map[string]any) {
	for _, key := range []string{"data", "stringData"} {
		b, _ := before[key].(map[string]any)
		a, _ := after[key].(map[string]any)
		for _, k := range unionKeys(b, a) {
			bv, inBefore := b[k]
			av, inAfter := a[k]
			bm, am := mask(bv, av, inBefore, inAfter)
			if inBefore {
				b[k] = bm
			}
			if inAfter {
				a[k] = am
			}
		}
	}
}

// mask returns the masks of a value before and after.
func mask(before, after any, inBefore, inAfter bool) (string, string) {
	if inBefore && inAfter && !reflect.DeepEqual(before, after) {
		return maskBefore, maskAfter
	}
	return maskSame, maskSame
}

// annotationsOf returns the object's annotations, nil when it has none.
func annotationsOf(obj map[string]any) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	a, _ := md["annotations"].(map[string]any)
	return a
}

// objectCopy reads an annotation value that is a copy of a Secret: a JSON
// object with data or stringData.
func objectCopy(v string) (map[string]any, bool) {
	if !strings.HasPrefix(strings.TrimSpace(v), "{") {
		return nil, false
	}
	var obj map[string]any
	if json.Unmarshal([]byte(v), &obj) != nil {
		return nil, false
	}
	_, data := obj["data"]
	_, stringData := obj["stringData"]
	return obj, data || stringData
}

// marshalCopy writes a masked copy back, in the compact JSON kubectl writes,
// keeping the original's trailing newline.
func marshalCopy(obj map[string]any, orig string) string {
	b, err := json.Marshal(obj)
	if err != nil {
		return maskSame
	}
	if strings.HasSuffix(orig, "\n") {
		return string(b) + "\n"
	}
	return string(b)
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
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
