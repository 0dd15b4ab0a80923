package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"sigs.k8s.io/yaml"
)

// Bounds on what a chart repository may send.
const (
	maxIndexBytes   = 32 << 20
	maxArchiveBytes = 32 << 20
)

type basicAuth struct{ user, password string }

// indexEntry is a repository's index, fetched once per Renderer.
type indexEntry struct {
	done  chan struct{}
	index *index
	err   error
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: t, Timeout: 2 * time.Minute}
}

// fetchHTTP returns the chart name at version (a semver constraint, "" for
// the newest) of the Helm repository at repoURL, from the cache when it
// is there. Requests go to repoURL's host only: an index naming a chart
// on another host, or a redirect to one, is an error; credentials are sent
// to that host only.
func (r *Renderer) fetchHTTP(ctx context.Context, repoURL, name, version string, auth *basicAuth) (*chart.Chart, string, error) {
	base, err := url.Parse(repoURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, "", fmt.Errorf("chart repository URL %q: want an http or https URL", repoURL)
	}
	src := name + " from " + redact(base)
	if auth == nil && r.opts.RepositoryCredentials != nil {
		if u, p, ok := r.opts.RepositoryCredentials(repoURL); ok {
			auth = &basicAuth{user: u, password: p}
		}
	}
	idx, err := r.index(ctx, base, auth)
	if err != nil {
		return nil, src, err
	}
	cv, err := idx.get(name, version)
	if err != nil {
		if version == "" {
			version = "*"
		}
		return nil, src, fmt.Errorf("no version %s of chart %s in %s (%w): check the chart's name and version", version, name, redact(base), err)
	}
	if len(cv.URLs) == 0 {
		return nil, src, fmt.Errorf("the index of %s lists %s %s without a URL", redact(base), name, cv.Version)
	}
	chartURL, err := resolveURL(base, cv.URLs[0])
	if err != nil {
		return nil, src, fmt.Errorf("the index of %s: chart URL %q: %w", redact(base), cv.URLs[0], err)
	}
	if chartURL.Host != base.Host || chartURL.Scheme != base.Scheme {
		return nil, src, fmt.Errorf("the index of %s puts %s %s on another host (%s): only the repository's host is contacted", redact(base), name, cv.Version, chartURL.Host)
	}
	cachePath := r.cachePath(name, cv.Version, cv.Digest)
	if cachePath != "" {
		if data, err := os.ReadFile(cachePath); err == nil && digestOf(data) == cv.Digest {
			ch, err := loader.LoadArchive(bytes.NewReader(data))
			return ch, src, err
		}
	}
	data, err := r.get(ctx, chartURL, auth, maxArchiveBytes)
	if err != nil {
		return nil, src, err
	}
	if cv.Digest != "" && digestOf(data) != cv.Digest {
		return nil, src, fmt.Errorf("%s %s from %s does not have the digest its index gives", name, cv.Version, redact(base))
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, src, fmt.Errorf("reading %s %s from %s: %w", name, cv.Version, redact(base), err)
	}
	if cachePath != "" {
		if err := os.MkdirAll(filepath.Dir(cachePath), 0o700); err == nil {
			tmp := cachePath + ".tmp"
			if os.WriteFile(tmp, data, 0o600) == nil {
				_ = os.Rename(tmp, cachePath)
			}
		}
	}
	return ch, src, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// cachePath is where a chart is cached, "" when it is not: without a cache
// directory, or without a digest to name and check it by.
func (r *Renderer) cachePath(name, version, digest string) string {
	if r.opts.CacheDir == "" || digest == "" {
		return ""
	}
	file := unsafeName.ReplaceAllString(name, "_") + "-" + unsafeName.ReplaceAllString(version, "_") + "-" + unsafeName.ReplaceAllString(digest, "_") + ".tgz"
	return filepath.Join(r.opts.CacheDir, "charts", file)
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// index returns the index of the repository at base, fetching it once.
func (r *Renderer) index(ctx context.Context, base *url.URL, auth *basicAuth) (*index, error) {
	key := base.String()
	r.mu.Lock()
	e, ok := r.indexes[key]
	if !ok {
		e = &indexEntry{done: make(chan struct{})}
		r.indexes[key] = e
	}
	r.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			return e.index, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer close(e.done)
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/index.yaml"
	data, err := r.get(ctx, &u, auth, maxIndexBytes)
	if err != nil {
		e.err = err
		return nil, err
	}
	var idx index
	if err := yaml.Unmarshal(data, &idx); err != nil {
		e.err = fmt.Errorf("the index of %s is not YAML: %w", redact(base), err)
		return nil, e.err
	}
	if idx.APIVersion == "" {
		e.err = fmt.Errorf("the index of %s has no apiVersion: is %s a Helm repository?", redact(base), redact(base))
		return nil, e.err
	}
	e.index = &idx
	return e.index, nil
}

// get fetches u, with auth, reading at most limit bytes. A redirect to
// another host is refused.
func (r *Renderer) get(ctx context.Context, u *url.URL, auth *basicAuth, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if auth != nil {
		req.SetBasicAuth(auth.user, auth.password)
	}
	client := *r.opts.HTTPClient
	host := u.Host
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != host {
			return fmt.Errorf("redirected to another host, %s: only %s is contacted", req.URL.Host, host)
		}
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", redact(u), err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = ": check the credentials (the HelmRepository's secretRef)"
		}
		return nil, fmt.Errorf("fetching %s: %s%s", redact(u), resp.Status, hint)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", redact(u), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("fetching %s: more than %d MiB", redact(u), limit>>20)
	}
	return data, nil
}

// redact returns u without user information or query.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}
