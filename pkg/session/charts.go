package session

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"helm.sh/helm/v3/pkg/helmpath"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/helm"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// charts returns the render option that renders the charts of the
// HelmReleases of snap, a commit of the repository repo, for a sync into
// namespace. The cluster is asked for its version and API versions when
// the first HelmRelease is met, not before.
//
// offline, for the use cases that read git only (images, workloads, the
// policy commands), renders with Helm's default capabilities when the
// cluster cannot say its own, with a note: the workloads a chart makes do
// not depend on them but in rare charts.
func (s *Session) charts(snap *source.Snapshot, repo, namespace string, offline bool) func(context.Context, render.Object, []render.Object) ([]render.Object, error) {
	var once sync.Once
	var r *helm.Renderer
	var err error
	return func(ctx context.Context, hr render.Object, all []render.Object) ([]render.Object, error) {
		once.Do(func() {
			r, err = s.chartRenderer(snap, repo, namespace, true)
			if err != nil && offline {
				s.warn("note: rendering charts with Helm's default Kubernetes version and API versions: %v", err)
				r, err = s.chartRenderer(snap, repo, namespace, false)
			}
		})
		if err != nil {
			return nil, err
		}
		return r.Render(ctx, hr, all)
	}
}

func (s *Session) chartRenderer(snap *source.Snapshot, repo, namespace string, askCluster bool) (*helm.Renderer, error) {
	opts := helm.Options{
		FS:               snap.FS,
		SameRepository:   func(u string) bool { return sameRepository(u, repo) },
		DefaultNamespace: namespace,
		CacheDir:         chartCache(),
		Keychain:         authn.DefaultKeychain, // the docker config, for OCI charts
		Lookup:           s.lookupValues,
		// Helm's repositories.yaml, for the exact URLs it names.
		RepositoryCredentials: helmRepositoryCredentials(helmRepositoryConfig()),
	}
	if !askCluster {
		return helm.New(opts), nil
	}
	dc, err := s.factory.ToDiscoveryClient()
	if err != nil {
		return nil, fmt.Errorf("rendering charts needs the cluster's version: %w", err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("rendering charts needs the cluster's version: %w", err)
	}
	// As Helm's action.GetVersionSet: every group version, and every
	// group version/kind, of the groups discovery could read.
	_, lists, err := dc.ServerGroupsAndResources()
	var partial *discovery.ErrGroupDiscoveryFailed
	if err != nil && !errors.As(err, &partial) {
		return nil, fmt.Errorf("rendering charts needs the cluster's API versions: %w", err)
	}
	var versions []string
	for _, l := range lists {
		versions = append(versions, l.GroupVersion)
		for _, res := range l.APIResources {
			if !strings.Contains(res.Name, "/") {
				versions = append(versions, l.GroupVersion+"/"+res.Kind)
			}
		}
	}
	opts.KubeVersion, opts.APIVersions = v.GitVersion, versions
	return helm.New(opts), nil
}

// chartCache is where charts are cached: the user's cache directory, or
// nowhere when there is none.
func chartCache() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "kubectl-gitops", "helm")
	}
	return ""
}

// lookupValues reads a ConfigMap or Secret named by a HelmRelease's
// valuesFrom or a HelmRepository's secretRef from the cluster.
func (s *Session) lookupValues(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	cs, err := s.factory.KubernetesClientSet()
	if err != nil {
		return nil, err
	}
	var obj any
	switch kind {
	case "ConfigMap":
		obj, err = cs.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	case "Secret":
		obj, err = cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	default:
		return nil, fmt.Errorf("kind %s is not read", kind)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// sameRepository says whether the git URL u, named in a HelmRelease or a
// GitRepository, is repo, the synced repository's URL or local path:
// scheme, user, a trailing ".git" or "/" and the case of the host aside.
func sameRepository(u, repo string) bool {
	return normalGitURL(u) == normalGitURL(repo)
}

func normalGitURL(s string) string {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutPrefix(s, "file://"); ok {
		s = p
	}
	if filepath.IsAbs(s) {
		return filepath.Clean(strings.TrimSuffix(filepath.Clean(s), ".git"))
	}
	host, path := "", s
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		host, path = u.Hostname(), u.Path
	} else if at := strings.Index(s, "@"); at >= 0 && strings.Contains(s[at:], ":") {
		// scp-like: git@host:owner/repo
		rest := s[at+1:]
		i := strings.Index(rest, ":")
		host, path = rest[:i], rest[i+1:]
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	return strings.ToLower(host) + "/" + path
}

// helmRepositoryConfig is the path of Helm's repositories.yaml, as `helm`
// finds it.
func helmRepositoryConfig() string {
	if p := os.Getenv("HELM_REPOSITORY_CONFIG"); p != "" {
		return p
	}
	return helmpath.ConfigPath("repositories.yaml")
}

// helmRepositoryCredentials returns the credentials of the repositories
// listed in Helm's repositories.yaml at path, by URL (a trailing "/"
// aside); a missing or unreadable file gives none.
func helmRepositoryCredentials(path string) func(string) (string, string, bool) {
	// Read here rather than with Helm's repo.LoadFile, whose package
	// brings Helm's OCI client into the binary.
	var f struct {
		Repositories []struct {
			URL      string `json:"url"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"repositories"`
	}
	creds := map[string][2]string{}
	if data, err := os.ReadFile(path); err == nil && yaml.Unmarshal(data, &f) == nil {
		for _, e := range f.Repositories {
			if e.Username != "" || e.Password != "" {
				creds[strings.TrimSuffix(e.URL, "/")] = [2]string{e.Username, e.Password}
			}
		}
	}
	return func(url string) (string, string, bool) {
		c, ok := creds[strings.TrimSuffix(url, "/")]
		return c[0], c[1], ok
	}
}
