package helm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/ignore"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// maxChartFiles bounds the size of a chart read from the commit.
const maxChartBytes = 64 << 20

// loadChart finds and loads spec's chart, and says where it came from.
func (r *Renderer) loadChart(ctx context.Context, spec *releaseSpec, all []render.Object) (*chart.Chart, string, error) {
	switch {
	case spec.gitURL != "":
		if r.opts.SameRepository == nil || !r.opts.SameRepository(spec.gitURL) {
			return nil, "", fmt.Errorf("the chart is in git repository %s, which is not the synced repository: only charts of the synced repository are rendered from git", spec.gitURL)
		}
		dir := trimChartPath(spec.path)
		ch, err := loadTree(r.opts.FS, dir)
		return ch, dir, err
	case spec.repoURL != "":
		return r.fetchHTTP(ctx, spec.repoURL, spec.chart, spec.version, nil)
	}
	src, err := findObject(all, groupSources, spec.sourceKind, spec.sourceNamespace, spec.sourceName, r.opts.DefaultNamespace)
	if err != nil {
		return nil, "", err
	}
	if src == nil {
		return nil, "", fmt.Errorf("%s %s/%s is not in the repository: add it next to the HelmRelease", spec.sourceKind, spec.sourceNamespace, spec.sourceName)
	}
	url, _, _ := unstructured.NestedString(src.Object.Object, "spec", "url")
	switch spec.sourceKind {
	case "GitRepository":
		if r.opts.SameRepository == nil || !r.opts.SameRepository(url) {
			return nil, "", fmt.Errorf("GitRepository %s (%s) is %s, which is not the synced repository: only charts of the synced repository are rendered from git", spec.sourceName, src.Origin, url)
		}
		dir := trimChartPath(spec.chart)
		ch, err := loadTree(r.opts.FS, dir)
		return ch, dir, err
	case "HelmRepository":
		typ, _, _ := unstructured.NestedString(src.Object.Object, "spec", "type")
		sec, err := r.sourceSecret(ctx, src, spec, all)
		if err != nil {
			return nil, "", err
		}
		if typ == "oci" || strings.HasPrefix(url, "oci://") {
			var auth *ociAuth
			if sec != nil {
				auth = ociSecretAuth(sec, ociHost(url))
			}
			return r.fetchOCI(ctx, strings.TrimSuffix(url, "/")+"/"+spec.chart, spec.version, auth)
		}
		var auth *basicAuth
		if sec != nil {
			name := sec.GetName()
			data := secretData(sec)
			auth = &basicAuth{user: string(data["username"]), password: string(data["password"])}
			if auth.user == "" && auth.password == "" {
				return nil, "", fmt.Errorf("Secret %s/%s of HelmRepository %s has no username and password", spec.sourceNamespace, name, spec.sourceName)
			}
		}
		return r.fetchHTTP(ctx, url, spec.chart, spec.version, auth)
	case "OCIRepository":
		sec, err := r.sourceSecret(ctx, src, spec, all)
		if err != nil {
			return nil, "", err
		}
		var auth *ociAuth
		if sec != nil {
			auth = ociSecretAuth(sec, ociHost(url))
		}
		ref, _, _ := unstructured.NestedStringMap(src.Object.Object, "spec", "ref")
		version := ref["tag"]
		if ref["semver"] != "" {
			version = ref["semver"]
		}
		if ref["digest"] != "" {
			return nil, "", fmt.Errorf("OCIRepository %s (%s): ref.digest is not rendered yet: use ref.tag or ref.semver", spec.sourceName, src.Origin)
		}
		if version == "" {
			version = "latest"
		}
		return r.fetchOCI(ctx, url, version, auth)
	}
	return nil, "", fmt.Errorf("a chart from a %s source is not rendered: use a HelmRepository, or a GitRepository of the synced repository", spec.sourceKind)
}

// loadTree loads the chart in directory dir of fsys, the commit's tree, as
// `helm` loads a chart directory, with .helmignore. A symbolic link in the
// chart is an error: following it could leave the commit.
func loadTree(fsys fs.FS, dir string) (*chart.Chart, error) {
	if fsys == nil {
		return nil, errors.New("no file tree to read the chart from")
	}
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("chart path %q leaves the repository: want a path inside it, like charts/app", dir)
	}
	if _, err := fs.Stat(fsys, path.Join(dir, "Chart.yaml")); err != nil {
		return nil, fmt.Errorf("%s holds no Chart.yaml in the synced commit", dir)
	}
	rules := ignore.Empty()
	if data, err := fs.ReadFile(fsys, path.Join(dir, ignore.HelmIgnore)); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("%s: %w", path.Join(dir, ignore.HelmIgnore), err)
		}
	}
	rules.AddDefaults()
	var files []*loader.BufferedFile
	total := 0
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if dir == "." {
			rel = p
		}
		if rel == "" || rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rules.Ignore(rel, info) {
				return fs.SkipDir
			}
			return nil
		}
		if rules.Ignore(rel, info) {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (symbolic links in charts are not followed)", p)
		}
		total += int(info.Size())
		if total > maxChartBytes {
			return fmt.Errorf("the chart has more than %d MiB", maxChartBytes>>20)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: rel, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading the chart in %s: %w", dir, err)
	}
	return ch, nil
}

// findObject returns the object of the group and kind named namespace/name
// among all, or nil.
func findObject(all []render.Object, group, kind, namespace, name, defaultNamespace string) (*render.Object, error) {
	for i, o := range all {
		gvk := o.Object.GroupVersionKind()
		if gvk.Group != group || gvk.Kind != kind || o.Object.GetName() != name {
			continue
		}
		ns := o.Object.GetNamespace()
		if ns == "" {
			ns = defaultNamespace
		}
		if ns == namespace {
			return &all[i], nil
		}
	}
	return nil, nil
}

// object returns the ConfigMap or Secret namespace/name from the rendered
// objects, else from the cluster when Lookup is set, else nil.
func (r *Renderer) object(ctx context.Context, all []render.Object, kind, namespace, name string) (*unstructured.Unstructured, error) {
	o, err := findObject(all, "", kind, namespace, name, r.opts.DefaultNamespace)
	if err != nil || o != nil {
		if o != nil {
			return o.Object, nil
		}
		return nil, err
	}
	if r.opts.Lookup == nil {
		return nil, nil
	}
	u, err := r.opts.Lookup(ctx, kind, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s/%s from the cluster: %w", kind, namespace, name, err)
	}
	return u, nil
}

// sourceSecret returns the Secret a source's secretRef names, from the
// rendered objects or the cluster, or nil when it names none.
func (r *Renderer) sourceSecret(ctx context.Context, src *render.Object, spec *releaseSpec, all []render.Object) (*unstructured.Unstructured, error) {
	name, _, _ := unstructured.NestedString(src.Object.Object, "spec", "secretRef", "name")
	if name == "" {
		return nil, nil
	}
	if o, _ := findObject(all, "", "Secret", spec.sourceNamespace, name, r.opts.DefaultNamespace); o != nil {
		return o.Object, nil
	}
	if !r.opts.SourceSecretsFromCluster {
		return nil, fmt.Errorf("Secret %s/%s of %s %s (%s) is not in the repository: the credentials of a chart repository are read from the cluster only when the operator allows it, since the repository names the host they are sent to", spec.sourceNamespace, name, spec.sourceKind, spec.sourceName, src.Origin)
	}
	sec, err := r.object(ctx, all, "Secret", spec.sourceNamespace, name)
	if err != nil {
		return nil, err
	}
	if sec == nil {
		return nil, fmt.Errorf("Secret %s/%s of %s %s (%s) is neither in the repository nor in the cluster", spec.sourceNamespace, name, spec.sourceKind, spec.sourceName, src.Origin)
	}
	return sec, nil
}

// ociHost is the registry host of an oci:// URL.
func ociHost(url string) string {
	h, _, _ := strings.Cut(strings.TrimPrefix(url, "oci://"), "/")
	return h
}
