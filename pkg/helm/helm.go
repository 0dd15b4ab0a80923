// Package helm renders the charts of HelmRelease objects, Flux v1
// (helm.fluxcd.io/v1) and Flux v2 (helm.toolkit.fluxcd.io/v2, v2beta1,
// v2beta2), client-side with Helm's Go SDK, as `helm template` would for an
// install into the given cluster, so that what a chart makes can be synced
// like any other manifest. Nothing is installed and no release is stored.
//
// Charts come from the commit being synced (a directory of its tree) or
// from an HTTP Helm repository (index.yaml and a .tgz archive). Templates
// see only the chart's own files; `lookup` returns nothing and makes no
// request; DNS lookups are off.
package helm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// Options are what the engine needs besides the HelmRelease.
type Options struct {
	// FS is the tree of the commit being synced; charts of the synced
	// repository are read from it, and only from it.
	FS fs.FS
	// SameRepository says whether a git URL named by a HelmRelease or a
	// GitRepository is the synced repository. Nil: none is.
	SameRepository func(url string) bool
	// DefaultNamespace is the namespace of objects that name none.
	DefaultNamespace string
	// KubeVersion is the cluster's version ("v1.37.2"), for
	// .Capabilities.KubeVersion; "" keeps Helm's default.
	KubeVersion string
	// APIVersions are the cluster's API versions ("apps/v1", and
	// "apps/v1/Deployment"), added to Helm's defaults for
	// .Capabilities.APIVersions.
	APIVersions []string
	// CacheDir, when set, keeps charts fetched from repositories, by name,
	// version and digest.
	CacheDir string
	// HTTPClient fetches from chart repositories; nil is a client with
	// TLS verification on and a timeout.
	HTTPClient *http.Client
	// Keychain gives the credentials of OCI registries when the source
	// names no Secret (the docker config, Helm's registry config); nil
	// pulls anonymously.
	Keychain authn.Keychain
	// Lookup, when set, reads a ConfigMap or Secret from the cluster when
	// the rendered objects do not hold it; it returns nil, nil when the
	// object does not exist. It is used for valuesFrom, in the
	// HelmRelease's own namespace.
	Lookup func(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error)
	// SourceSecretsFromCluster lets a source's secretRef (the credentials
	// of a chart repository) be read from the cluster through Lookup. Off,
	// such a Secret must be in the repository: the repository names the
	// host the credentials go to, and a Secret of the cluster is a
	// credential the repository's author may not hold.
	SourceSecretsFromCluster bool
	// RepositoryCredentials, when set, gives the username and password the
	// operator configured for an HTTP chart repository URL (Helm's
	// repositories.yaml), used when the source names no Secret.
	RepositoryCredentials func(url string) (user, password string, ok bool)
	// HelmLabels gives the chart's objects (not its CRDs nor hooks) the
	// label and annotations Helm 3.2+ sets on a release's objects
	// (app.kubernetes.io/managed-by: Helm, meta.helm.sh/release-name and
	// -namespace), so that `helm` can take them over again. Off, objects
	// are as the chart renders them.
	HelmLabels bool
}

// Renderer renders HelmReleases. It keeps the repositories' indexes it
// fetched, so that each is fetched once per Renderer. It is safe for
// concurrent use.
type Renderer struct {
	opts Options

	mu      sync.Mutex
	indexes map[string]*indexEntry
}

// New returns a Renderer with opts.
func New(opts Options) *Renderer {
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultHTTPClient()
	}
	return &Renderer{opts: opts, indexes: map[string]*indexEntry{}}
}

// Phase says when a hook runs, as Argo CD maps Helm's hooks.
type Phase string

const (
	// PreSync hooks (pre-install, pre-upgrade) come before the chart's
	// objects.
	PreSync Phase = "PreSync"
	// PostSync hooks (post-install, post-upgrade) come after them.
	PostSync Phase = "PostSync"
	// Never: delete, rollback and test hooks, which a sync never runs.
	Never Phase = "Never"
)

// Manifest is one object a chart rendered, with the template that made it.
type Manifest struct {
	// Path is the template's path in the chart, like
	// "app/templates/deploy.yaml", or "app/crds/x.yaml".
	Path   string
	Object *unstructured.Unstructured
}

// Hook is a rendered Helm hook.
type Hook struct {
	Manifest
	// Events are the hook's helm.sh/hook events, like "pre-install".
	Events []string
	Phase  Phase
	// Weight is helm.sh/hook-weight; hooks of a phase go by weight.
	Weight int
	// DeletePolicies are helm.sh/hook-delete-policy's values.
	DeletePolicies []string
}

// Release is what a HelmRelease's chart rendered.
type Release struct {
	// Name and Namespace are the release's, as Flux computes them.
	Name, Namespace string
	// Chart and Version name the chart rendered.
	Chart, Version string
	// CRDs are the chart's crds/ files (and its subcharts'), unless the
	// HelmRelease skips them.
	CRDs []Manifest
	// Manifests are the chart's other objects, in Helm's install order.
	Manifests []Manifest
	// Hooks are the hooks, every phase, in the order Helm runs them.
	Hooks []Hook
}

// Render renders hr's chart and returns what a sync applies, each with an
// origin naming hr's file and line and the chart: the CRDs, the PreSync
// hooks, the objects, the PostSync hooks. Hooks of other phases are left
// out. all is every object rendered from the commit: ConfigMaps and
// Secrets for valuesFrom, and Flux v2 sources. Its signature is that of
// render.Options.Charts.
func (r *Renderer) Render(ctx context.Context, hr render.Object, all []render.Object) ([]render.Object, error) {
	rel, err := r.RenderRelease(ctx, hr, all)
	if err != nil {
		return nil, err
	}
	chart := rel.Chart + " " + rel.Version
	var out []render.Object
	add := func(m Manifest) {
		o := hr.Origin
		o.Chart = chart + ": " + m.Path
		out = append(out, render.Object{Object: m.Object, Origin: o})
	}
	for _, m := range rel.CRDs {
		add(m)
	}
	for _, h := range rel.Hooks {
		if h.Phase == PreSync {
			add(h.Manifest)
		}
	}
	for _, m := range rel.Manifests {
		if r.opts.HelmLabels {
			setHelmMetadata(m.Object, rel.Name, rel.Namespace)
		}
		add(m)
	}
	for _, h := range rel.Hooks {
		if h.Phase == PostSync {
			add(h.Manifest)
		}
	}
	return out, nil
}

// RenderRelease renders hr's chart. Every error is a *render.Error with
// hr's origin, naming the HelmRelease and, once known, the chart.
func (r *Renderer) RenderRelease(ctx context.Context, hr render.Object, all []render.Object) (*Release, error) {
	spec, err := parseRelease(hr.Object, r.opts.DefaultNamespace)
	if err != nil {
		return nil, releaseError(hr, "", err)
	}
	ch, src, err := r.loadChart(ctx, spec, all)
	if err != nil {
		return nil, releaseError(hr, spec.chartName(), err)
	}
	name := src
	if ch.Metadata != nil {
		name = ch.Metadata.Name + " " + ch.Metadata.Version + " (" + src + ")"
	}
	if err := applyValuesFiles(ch, spec, r.opts.FS); err != nil {
		return nil, releaseError(hr, name, err)
	}
	vals, err := r.values(ctx, spec, ch, all)
	if err != nil {
		return nil, releaseError(hr, name, err)
	}
	rel, err := r.template(ch, spec, vals)
	if err != nil {
		return nil, releaseError(hr, name, err)
	}
	return rel, nil
}

func releaseError(hr render.Object, chart string, err error) error {
	what := fmt.Sprintf("HelmRelease %s", hr.Object.GetName())
	if ns := hr.Object.GetNamespace(); ns != "" {
		what = fmt.Sprintf("HelmRelease %s/%s", ns, hr.Object.GetName())
	}
	if chart != "" {
		what += ", chart " + chart
	}
	var re *render.Error
	if errors.As(err, &re) {
		return err
	}
	return &render.Error{Origin: hr.Origin, Err: fmt.Errorf("%s: %w", what, err)}
}

// setHelmMetadata sets what Helm's install sets on a release's objects
// (helm.sh/helm/v3 pkg/action/validate.go, setMetadataVisitor).
func setHelmMetadata(obj *unstructured.Unstructured, release, namespace string) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["app.kubernetes.io/managed-by"] = "Helm"
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["meta.helm.sh/release-name"] = release
	ann["meta.helm.sh/release-namespace"] = namespace
	obj.SetAnnotations(ann)
}
