package helm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
)

// chartLayer is the media type of the layer holding a chart's archive in
// an OCI artifact, as `helm push` writes it.
const chartLayer types.MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// ociAuth is how to authenticate to an OCI registry: a keychain (the
// HelmRepository's secretRef), or else Options.Keychain.
type ociAuth struct{ keychain authn.Keychain }

// fetchOCI returns the chart in the OCI repository ref (host/path/chart,
// without oci://) at version (a tag, a semver constraint, or "" for the
// newest semver tag), from the cache when it is there.
func (r *Renderer) fetchOCI(ctx context.Context, ref, version string, auth *ociAuth) (*chart.Chart, string, error) {
	ref = strings.TrimPrefix(ref, "oci://")
	repo, err := name.NewRepository(ref)
	if err != nil {
		return nil, ref, fmt.Errorf("OCI repository %q: %w", ref, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(r.opts.HTTPClient.Transport)}
	switch {
	case auth != nil && auth.keychain != nil:
		opts = append(opts, remote.WithAuthFromKeychain(auth.keychain))
	case r.opts.Keychain != nil:
		opts = append(opts, remote.WithAuthFromKeychain(r.opts.Keychain))
	}
	tag, err := ociTag(repo, version, opts)
	if err != nil {
		return nil, ref, err
	}
	src := "oci://" + repo.String() + ":" + tag
	img, err := remote.Image(repo.Tag(tag), opts...)
	if err != nil {
		return nil, src, fmt.Errorf("pulling %s: %w", src, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, src, fmt.Errorf("pulling %s: %w", src, err)
	}
	for _, l := range m.Layers {
		if l.MediaType != chartLayer {
			continue
		}
		if l.Size > maxArchiveBytes {
			return nil, src, fmt.Errorf("%s: the chart has more than %d MiB", src, maxArchiveBytes>>20)
		}
		cachePath := r.cachePath(filepath.Base(repo.RepositoryStr()), tag, l.Digest.Hex)
		if cachePath != "" {
			if data, err := os.ReadFile(cachePath); err == nil && digestOf(data) == l.Digest.Hex {
				ch, err := loader.LoadArchive(bytes.NewReader(data))
				return ch, src, err
			}
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, src, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, src, fmt.Errorf("pulling %s: %w", src, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxArchiveBytes+1))
		_ = rc.Close()
		if err != nil {
			return nil, src, fmt.Errorf("pulling %s: %w", src, err)
		}
		if digestOf(data) != l.Digest.Hex {
			return nil, src, fmt.Errorf("%s: the chart's layer does not have its digest", src)
		}
		ch, err := loader.LoadArchive(bytes.NewReader(data))
		if err != nil {
			return nil, src, fmt.Errorf("reading %s: %w", src, err)
		}
		if cachePath != "" && os.MkdirAll(filepath.Dir(cachePath), 0o700) == nil {
			tmp := cachePath + ".tmp"
			if os.WriteFile(tmp, data, 0o600) == nil {
				_ = os.Rename(tmp, cachePath)
			}
		}
		return ch, src, nil
	}
	return nil, src, fmt.Errorf("%s holds no Helm chart (no layer of type %s)", src, chartLayer)
}

// ociTag picks the tag of version: the tag itself when it is one (with
// "+" written "_", as Helm pushes it), else the newest semver tag that
// satisfies the constraint.
func ociTag(repo name.Repository, version string, opts []remote.Option) (string, error) {
	if version != "" {
		if v, err := semver.StrictNewVersion(strings.TrimPrefix(version, "v")); err == nil && v.String() == strings.TrimPrefix(version, "v") {
			return strings.ReplaceAll(version, "+", "_"), nil
		}
	}
	if version == "" {
		version = "*"
	}
	c, err := semver.NewConstraint(version)
	if err != nil {
		return "", fmt.Errorf("version %q is neither a version nor a semver constraint: %w", version, err)
	}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		return "", fmt.Errorf("listing the tags of oci://%s: %w", repo, err)
	}
	var best *semver.Version
	bestTag := ""
	for _, t := range tags {
		v, err := semver.NewVersion(strings.ReplaceAll(t, "_", "+"))
		if err != nil || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best, bestTag = v, t
		}
	}
	if best == nil {
		return "", fmt.Errorf("no version %s of oci://%s: check the chart's name and version", version, repo)
	}
	return bestTag, nil
}

// ociSecretAuth reads a HelmRepository's or OCIRepository's secretRef:
// a docker config Secret, or username and password.
func ociSecretAuth(sec *unstructured.Unstructured, host string) *ociAuth {
	data := secretData(sec)
	if u, p := data["username"], data["password"]; len(u) > 0 || len(p) > 0 {
		cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"username": string(u), "password": string(p)}}})
		return &ociAuth{keychain: registry.KeychainFromPullSecrets([]corev1.Secret{{Data: map[string][]byte{corev1.DockerConfigJsonKey: cfg}}})}
	}
	return &ociAuth{keychain: registry.KeychainFromPullSecrets([]corev1.Secret{{Data: data}})}
}
