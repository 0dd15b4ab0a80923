package helm

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Helm's pkg/repo would do the work of this file, but it imports Helm's
// getters and OCI client (oras), 31 packages the plugin would build for
// nothing: the index is read here with the same rules.

// index is a chart repository's index.yaml, what the engine reads of it.
type index struct {
	APIVersion string                    `json:"apiVersion"`
	Entries    map[string][]chartVersion `json:"entries"`
}

// chartVersion is one version of a chart in an index.
type chartVersion struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	Digest  string   `json:"digest"`
}

// get returns the version of chart name that version (a version or a
// semver constraint, "" for any) selects, as Helm's IndexFile.Get does: an
// exact match first, else the newest version the constraint allows.
func (i *index) get(name, version string) (*chartVersion, error) {
	vs := i.Entries[name]
	if len(vs) == 0 {
		return nil, errors.New("no such chart")
	}
	if version != "" {
		for j := range vs {
			if vs[j].Version == version {
				return &vs[j], nil
			}
		}
	}
	if version == "" {
		version = "*"
	}
	c, err := semver.NewConstraint(version)
	if err != nil {
		return nil, fmt.Errorf("version %q is neither a version nor a semver constraint: %w", version, err)
	}
	var best *chartVersion
	var bestV *semver.Version
	for j := range vs {
		v, err := semver.NewVersion(vs[j].Version)
		if err != nil || !c.Check(v) {
			continue
		}
		if bestV == nil || v.GreaterThan(bestV) {
			best, bestV = &vs[j], v
		}
	}
	if best == nil {
		return nil, errors.New("no such version")
	}
	return best, nil
}

// resolveURL resolves a chart URL of an index against the repository's
// URL, as Helm's repo.ResolveReferenceURL does (the base keeps its query).
func resolveURL(base *url.URL, ref string) (*url.URL, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	if r.IsAbs() {
		return r, nil
	}
	b := *base
	b.RawPath = strings.TrimSuffix(b.RawPath, "/") + "/"
	b.Path = strings.TrimSuffix(b.Path, "/") + "/"
	u := b.ResolveReference(r)
	u.RawQuery = b.RawQuery
	return u, nil
}
