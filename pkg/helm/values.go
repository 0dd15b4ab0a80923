package helm

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// values merges the release's values as Flux does: each valuesFrom entry
// in order (a whole YAML document merged at the top, or with targetPath a
// single value set at that path, as `--set` does), then the inline
// values. The chart's defaults are merged under them when rendering.
func (r *Renderer) values(ctx context.Context, spec *releaseSpec, ch *chart.Chart, all []render.Object) (map[string]any, error) {
	result := map[string]any{}
	for i, ref := range spec.valuesFrom {
		data, found, err := r.valuesData(ctx, ref, ch, all)
		if err != nil {
			return nil, fmt.Errorf("valuesFrom[%d]: %w", i, err)
		}
		if !found {
			if ref.optional {
				continue
			}
			return nil, fmt.Errorf("valuesFrom[%d]: %s is neither in the repository nor in the cluster: add it, or set optional: true if it may be missing", i, ref.describe())
		}
		if ref.targetPath != "" {
			if err := strvals.ParseInto(ref.targetPath+"="+string(data), result); err != nil {
				return nil, fmt.Errorf("valuesFrom[%d]: targetPath %s: %w", i, ref.targetPath, err)
			}
			continue
		}
		var v map[string]any
		if err := yaml.Unmarshal(data, &v); err != nil {
			if ref.optional && spec.v1 {
				continue // helm-operator passes over unreadable optional values
			}
			return nil, fmt.Errorf("valuesFrom[%d]: %s is not a YAML mapping: %w", i, ref.describe(), err)
		}
		result = mergeMaps(result, v)
	}
	return mergeMaps(result, spec.values), nil
}

func (ref valuesRef) describe() string {
	switch {
	case ref.chartFile != "":
		return "chart file " + ref.chartFile
	}
	return fmt.Sprintf("key %q of %s %s/%s", ref.key, ref.kind, ref.namespace, ref.name)
}

// valuesData reads what ref names; found is false when it does not exist.
func (r *Renderer) valuesData(ctx context.Context, ref valuesRef, ch *chart.Chart, all []render.Object) ([]byte, bool, error) {
	switch {
	case ref.chartFile != "":
		for _, f := range ch.Raw {
			if path.Clean(f.Name) == path.Clean(ref.chartFile) {
				return f.Data, true, nil
			}
		}
		return nil, false, nil
	}
	obj, err := r.object(ctx, all, ref.kind, ref.namespace, ref.name)
	if err != nil || obj == nil {
		return nil, false, err
	}
	var data map[string][]byte
	if ref.kind == "Secret" {
		data = secretData(obj)
	} else {
		m, _, _ := unstructured.NestedStringMap(obj.Object, "data")
		data = map[string][]byte{}
		for k, v := range m {
			data[k] = []byte(v)
		}
	}
	v, ok := data[ref.key]
	return v, ok, nil
}

// secretData returns a Secret's data, decoded, with stringData over it.
func secretData(obj *unstructured.Unstructured) map[string][]byte {
	out := map[string][]byte{}
	m, _, _ := unstructured.NestedStringMap(obj.Object, "data")
	for k, v := range m {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			out[k] = b
		}
	}
	s, _, _ := unstructured.NestedStringMap(obj.Object, "stringData")
	for k, v := range s {
		out[k] = []byte(v)
	}
	return out
}

// mergeMaps merges b into a copy of a, deeply, b winning (Flux's
// transform.MergeMaps).
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// applyValuesFiles replaces the chart's values by the merge of
// chart.spec.valuesFiles, as helm-controller does: paths of the synced
// repository for a GitRepository source, paths in the chart otherwise.
func applyValuesFiles(ch *chart.Chart, spec *releaseSpec, fsys fs.FS) error {
	if len(spec.valuesFiles) == 0 {
		return nil
	}
	merged := map[string]any{}
	for _, f := range spec.valuesFiles {
		var data []byte
		if spec.sourceKind == "GitRepository" {
			p := trimChartPath(f)
			if !fs.ValidPath(p) {
				return fmt.Errorf("valuesFiles: %q leaves the repository", f)
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return fmt.Errorf("valuesFiles: %w", err)
			}
			data = b
		} else {
			for _, rf := range ch.Raw {
				if path.Clean(rf.Name) == path.Clean(f) {
					data = rf.Data
				}
			}
			if data == nil {
				return fmt.Errorf("valuesFiles: %s is not in the chart", f)
			}
		}
		v, err := chartutil.ReadValues(data)
		if err != nil {
			return fmt.Errorf("valuesFiles: %s: %w", f, err)
		}
		merged = mergeMaps(merged, v)
	}
	ch.Values = merged
	return nil
}
