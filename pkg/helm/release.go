package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Flux's API groups.
const (
	groupV1      = "helm.fluxcd.io"
	groupV2      = "helm.toolkit.fluxcd.io"
	groupSources = "source.toolkit.fluxcd.io"
)

// IsHelmRelease says whether obj is a HelmRelease this package renders.
func IsHelmRelease(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Kind == "HelmRelease" && (gvk.Group == groupV1 || gvk.Group == groupV2)
}

// IsSource says whether obj is a Flux v2 source (source.toolkit.fluxcd.io).
func IsSource(obj *unstructured.Unstructured) bool {
	return obj.GroupVersionKind().Group == groupSources
}

// valuesRef is one entry of valuesFrom, in either API.
type valuesRef struct {
	kind, namespace, name, key string
	targetPath                 string
	optional                   bool
	// chartFile is a Flux v1 chartFileRef path, read from the chart.
	chartFile string
}

// releaseSpec is what the engine reads of a HelmRelease of either API.
type releaseSpec struct {
	v1                    bool
	name, namespace       string
	releaseName, targetNS string
	// A chart from a Helm repository (repoURL) or from git (gitURL, path),
	// or from a Flux v2 source (sourceKind, sourceName, sourceNamespace).
	repoURL, chart, version string
	gitURL, path            string
	sourceKind, sourceName  string
	sourceNamespace         string
	valuesFiles             []string
	valuesFrom              []valuesRef
	values                  map[string]any
	skipCRDs                bool
}

func (s *releaseSpec) chartName() string {
	switch {
	case s.gitURL != "":
		return s.path + " (" + s.gitURL + ")"
	case s.repoURL != "":
		v := s.version
		if v == "" {
			v = "*"
		}
		return s.chart + " " + v + " (" + s.repoURL + ")"
	case s.sourceKind != "":
		c := s.chart
		if s.version != "" && s.sourceKind == "HelmRepository" {
			c += " " + s.version
		}
		return c + " (" + s.sourceKind + " " + s.sourceNamespace + "/" + s.sourceName + ")"
	}
	return ""
}

func parseRelease(obj *unstructured.Unstructured, defaultNamespace string) (*releaseSpec, error) {
	s := &releaseSpec{name: obj.GetName(), namespace: obj.GetNamespace()}
	if s.namespace == "" {
		s.namespace = defaultNamespace
	}
	if s.namespace == "" {
		s.namespace = "default"
	}
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	if spec == nil {
		return nil, errors.New("no spec")
	}
	str := func(m map[string]any, path ...string) string {
		v, _, _ := unstructured.NestedString(m, path...)
		return v
	}
	s.releaseName = str(spec, "releaseName")
	s.targetNS = str(spec, "targetNamespace")
	if v, ok := spec["values"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("spec.values is not a mapping")
		}
		s.values = m
	}
	if obj.GroupVersionKind().Group == groupV1 {
		return s, s.parseV1(spec, str)
	}
	return s, s.parseV2(spec, str)
}

func (s *releaseSpec) parseV1(spec map[string]any, str func(map[string]any, ...string) string) error {
	s.v1 = true
	chart, _, _ := unstructured.NestedMap(spec, "chart")
	s.repoURL, s.chart, s.version = str(chart, "repository"), str(chart, "name"), str(chart, "version")
	s.gitURL, s.path = str(chart, "git"), str(chart, "path")
	switch {
	case s.gitURL != "" && s.path == "":
		return errors.New("spec.chart.git is set without spec.chart.path")
	case s.gitURL == "" && (s.repoURL == "" || s.chart == ""):
		return errors.New("spec.chart names no chart: set git and path, or repository, name and version")
	}
	s.skipCRDs, _, _ = unstructured.NestedBool(spec, "skipCRDs")
	if s.targetNS == "" {
		s.targetNS = s.namespace
	}
	if s.releaseName == "" {
		// helm-operator's GetReleaseName.
		if s.namespace != s.targetNS {
			s.releaseName = s.namespace + "-" + s.targetNS + "-" + s.name
		} else {
			s.releaseName = s.targetNS + "-" + s.name
		}
	}
	secrets, _, _ := unstructured.NestedSlice(spec, "valueFileSecrets")
	for _, e := range secrets {
		m, _ := e.(map[string]any)
		s.valuesFrom = append(s.valuesFrom, valuesRef{kind: "Secret", namespace: s.namespace, name: str(m, "name"), key: "values.yaml"})
	}
	from, _, _ := unstructured.NestedSlice(spec, "valuesFrom")
	for i, e := range from {
		m, _ := e.(map[string]any)
		var ref valuesRef
		switch {
		case m["configMapKeyRef"] != nil:
			ref.kind = "ConfigMap"
			m, _ = m["configMapKeyRef"].(map[string]any)
		case m["secretKeyRef"] != nil:
			ref.kind = "Secret"
			m, _ = m["secretKeyRef"].(map[string]any)
		case m["chartFileRef"] != nil:
			m, _ = m["chartFileRef"].(map[string]any)
			ref.chartFile = str(m, "path")
		case m["externalSourceRef"] != nil:
			// helm-operator fetched any URL; a repository naming hosts
			// to fetch from is what the trust boundary forbids.
			m, _ = m["externalSourceRef"].(map[string]any)
			return fmt.Errorf("spec.valuesFrom[%d]: externalSourceRef %s is not fetched: a repository may not name hosts to read from; put the values in a ConfigMap or in the HelmRelease", i, str(m, "url"))
		default:
			return fmt.Errorf("spec.valuesFrom[%d] names no source", i)
		}
		ref.name, ref.namespace, ref.key = str(m, "name"), str(m, "namespace"), str(m, "key")
		ref.optional, _, _ = unstructured.NestedBool(m, "optional")
		if ref.namespace == "" {
			ref.namespace = s.namespace
		}
		if ref.namespace != s.namespace && ref.chartFile == "" {
			// As Flux v2: values come from the HelmRelease's namespace
			// only, so that a repository cannot copy another namespace's
			// Secrets into the objects it makes.
			return fmt.Errorf("spec.valuesFrom[%d] names namespace %s: values are read from the HelmRelease's namespace, %s, only", i, ref.namespace, s.namespace)
		}
		if ref.key == "" {
			ref.key = "values.yaml"
		}
		s.valuesFrom = append(s.valuesFrom, ref)
	}
	return nil
}

func (s *releaseSpec) parseV2(spec map[string]any, str func(map[string]any, ...string) string) error {
	if ref, ok := spec["chartRef"].(map[string]any); ok {
		s.sourceKind, s.sourceName, s.sourceNamespace = str(ref, "kind"), str(ref, "name"), str(ref, "namespace")
		if s.sourceKind != "OCIRepository" {
			return fmt.Errorf("spec.chartRef of kind %q is not rendered: use an OCIRepository, or spec.chart with a HelmRepository or GitRepository source", s.sourceKind)
		}
		if s.sourceNamespace == "" {
			s.sourceNamespace = s.namespace
		}
	}
	if pr, _, _ := unstructured.NestedSlice(spec, "postRenderers"); len(pr) > 0 {
		return errors.New("spec.postRenderers are not applied yet: move the patches into the chart's values or templates")
	}
	cs, _, _ := unstructured.NestedMap(spec, "chart", "spec")
	switch {
	case cs == nil && s.sourceKind == "":
		return errors.New("no spec.chart.spec nor spec.chartRef")
	case cs != nil:
		s.chart, s.version = str(cs, "chart"), str(cs, "version")
		s.sourceKind, s.sourceName, s.sourceNamespace = str(cs, "sourceRef", "kind"), str(cs, "sourceRef", "name"), str(cs, "sourceRef", "namespace")
		if s.chart == "" || s.sourceKind == "" || s.sourceName == "" {
			return errors.New("spec.chart.spec needs chart and sourceRef (kind and name)")
		}
		if s.sourceNamespace == "" {
			s.sourceNamespace = s.namespace
		}
		files, _, _ := unstructured.NestedStringSlice(cs, "valuesFiles")
		if f := str(cs, "valuesFile"); f != "" {
			// v2beta1's valuesFile, merged before valuesFiles.
			files = append([]string{f}, files...)
		}
		s.valuesFiles = files
	}
	crds := str(spec, "install", "crds")
	skip, _, _ := unstructured.NestedBool(spec, "install", "skipCRDs")
	s.skipCRDs = crds == "Skip" || (crds == "" && skip)
	if s.releaseName == "" {
		// helm-controller's GetReleaseName, then release.ShortenName.
		s.releaseName = s.name
		if s.targetNS != "" {
			s.releaseName = s.targetNS + "-" + s.name
		}
		s.releaseName = shortenName(s.releaseName)
	}
	if s.targetNS == "" {
		s.targetNS = s.namespace
	}
	from, _, _ := unstructured.NestedSlice(spec, "valuesFrom")
	for i, e := range from {
		m, _ := e.(map[string]any)
		ref := valuesRef{kind: str(m, "kind"), name: str(m, "name"), key: str(m, "valuesKey"), targetPath: str(m, "targetPath"), namespace: s.namespace}
		ref.optional, _, _ = unstructured.NestedBool(m, "optional")
		if ref.kind != "ConfigMap" && ref.kind != "Secret" {
			return fmt.Errorf("spec.valuesFrom[%d]: kind %q, want ConfigMap or Secret", i, ref.kind)
		}
		if ref.key == "" {
			ref.key = "values.yaml"
		}
		s.valuesFrom = append(s.valuesFrom, ref)
	}
	return nil
}

// shortenName is helm-controller's: a release name longer than Helm's 53
// characters becomes its first 40, "-", and 12 hex digits of its SHA-256.
func shortenName(name string) string {
	const maxLength, hashLength = 53, 12
	if len(name) <= maxLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:maxLength-hashLength-1] + "-" + hex.EncodeToString(sum[:])[:hashLength]
}

// trimChartPath makes a chart path of a git source relative to the
// repository's top, as fs.FS wants it.
func trimChartPath(p string) string {
	p = strings.TrimPrefix(p, "./")
	p = strings.Trim(p, "/")
	if p == "" {
		return "."
	}
	return p
}
