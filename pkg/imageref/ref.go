// Package imageref splits and joins image references as written in
// manifests, keeping the repository as written. It is the one parser of
// image references, shared by image automation (pkg/images) and the
// updaters of generated workloads (pkg/generate).
package imageref

import (
	"fmt"
	"strings"
)

// Ref is an image reference as written in a manifest: repository, tag and
// digest, any of the last two empty. The repository is kept as written, so
// that an edit changes only the tag and digest.
type Ref struct {
	Repo   string
	Tag    string
	Digest string
}

// Parse splits an image reference.
func Parse(s string) (Ref, error) {
	var r Ref
	rest := strings.TrimSpace(s)
	if rest == "" {
		return r, fmt.Errorf("empty image reference")
	}
	if i := strings.Index(rest, "@"); i >= 0 {
		r.Digest = rest[i+1:]
		rest = rest[:i]
		if !strings.Contains(r.Digest, ":") {
			return r, fmt.Errorf("image %q: digest %q is not of the form algorithm:hex", s, r.Digest)
		}
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		r.Tag = rest[i+1:]
		rest = rest[:i]
	}
	if rest == "" {
		return r, fmt.Errorf("image %q has no repository", s)
	}
	r.Repo = rest
	return r, nil
}

// String joins the reference again.
func (r Ref) String() string {
	s := r.Repo
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}
