package helm

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// template renders ch as Helm's install action does with DryRun and
// ClientOnly (`helm template`), without pkg/action: dependencies enabled
// by condition and tags, import-values, the values checked against
// values.schema.json, .Release as an install's, .Capabilities from the
// options. The engine has no cluster client, so `lookup` returns an empty
// map, and DNS lookups are off.
func (r *Renderer) template(ch *chart.Chart, spec *releaseSpec, vals map[string]any) (*Release, error) {
	if err := checkDependencies(ch); err != nil {
		return nil, err
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	if r.opts.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(r.opts.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("the cluster's version %q: %w", r.opts.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	caps.APIVersions = append(slices.Clone(chartutil.DefaultCapabilities.APIVersions), r.opts.APIVersions...)
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("the chart requires kubeVersion %s, which Kubernetes %s is not", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: spec.releaseName, Namespace: spec.targetNS, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	var e engine.Engine
	files, err := e.Render(ch, top)
	if err != nil {
		return nil, err
	}
	for k := range files {
		if strings.HasSuffix(k, "NOTES.txt") {
			delete(files, k)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	rel := &Release{Name: spec.releaseName, Namespace: spec.targetNS, Chart: ch.Metadata.Name, Version: ch.Metadata.Version}
	if !spec.skipCRDs {
		for _, crd := range ch.CRDObjects() {
			objs, err := decode(crd.Filename, string(crd.File.Data), "")
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				rel.CRDs = append(rel.CRDs, Manifest{Path: crd.Filename, Object: o})
			}
		}
	}
	for _, m := range manifests {
		objs, err := decode(m.Name, m.Content, spec.targetNS)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			rel.Manifests = append(rel.Manifests, Manifest{Path: m.Name, Object: o})
		}
	}
	for _, h := range hooks {
		objs, err := decode(h.Path, h.Manifest, spec.targetNS)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			rel.Hooks = append(rel.Hooks, newHook(h, o))
		}
	}
	return rel, nil
}

// newHook maps a Helm hook to its phase, as Argo CD does: pre-install and
// pre-upgrade before the objects, post-install and post-upgrade after,
// any other (delete, rollback, test) never.
func newHook(h *release.Hook, o *unstructured.Unstructured) Hook {
	hk := Hook{Manifest: Manifest{Path: h.Path, Object: o}, Weight: h.Weight, Phase: Never}
	for _, e := range h.Events {
		hk.Events = append(hk.Events, e.String())
	}
	for _, p := range h.DeletePolicies {
		hk.DeletePolicies = append(hk.DeletePolicies, p.String())
	}
	for _, e := range h.Events {
		switch e {
		case release.HookPreInstall, release.HookPreUpgrade:
			hk.Phase = PreSync
		case release.HookPostInstall, release.HookPostUpgrade:
			if hk.Phase == Never {
				hk.Phase = PostSync
			}
		}
	}
	return hk
}

// checkDependencies says which of the chart's dependencies are missing
// from its charts/ directory, as `helm install` does.
func checkDependencies(ch *chart.Chart) error {
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		found := false
		for _, sub := range ch.Dependencies() {
			if sub.Name() == d.Name {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dependencies %s of Chart.yaml are not in the chart's charts/ directory: vendor them (helm dependency build) and commit them", strings.Join(missing, ", "))
	}
	return nil
}

// decode decodes the documents of a rendered template into objects; a
// namespaced object without a namespace is in namespace, as Helm installs
// it (the planner clears it again for cluster-scoped kinds).
func decode(name, content, namespace string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	docs := releaseutil.SplitManifests(content)
	for i := range len(docs) {
		doc := docs["manifest-"+strconv.Itoa(i)]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
		}
		if m == nil {
			continue
		}
		o := &unstructured.Unstructured{Object: m}
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			return nil, fmt.Errorf("%s renders an object without apiVersion, kind or metadata.name", path.Clean(name))
		}
		if o.GetNamespace() == "" && namespace != "" {
			o.SetNamespace(namespace)
		}
		out = append(out, o)
	}
	return out, nil
}
