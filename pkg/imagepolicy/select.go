package imagepolicy

import (
	"cmp"
	"slices"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Tag is an image tag and, when known, the creation time of its image.
type Tag struct {
	Name    string
	Created time.Time
}

// Sort returns the tags the pattern allows, newest first.
//
// Semver patterns order by version; tags that are not versions are left
// out, and pre-releases are allowed only when the constraint has one.
// Glob and regex patterns order by creation time; a zero Created (unknown)
// counts as the oldest. Ties go to the newer image, then to the greater name.
func Sort(p Pattern, tags []Tag) []Tag {
	type entry struct {
		Tag
		v *semver.Version
	}
	var allowed []entry
	for _, t := range tags {
		if !p.Allows(t.Name) {
			continue
		}
		e := entry{Tag: t}
		if p.Kind() == Semver {
			v, err := semver.NewVersion(t.Name)
			if err != nil {
				continue
			}
			e.v = v
		}
		allowed = append(allowed, e)
	}
	slices.SortStableFunc(allowed, func(a, b entry) int {
		if a.v != nil && b.v != nil {
			if c := b.v.Compare(a.v); c != 0 {
				return c
			}
		}
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmp.Compare(b.Name, a.Name)
	})
	out := make([]Tag, len(allowed))
	for i, e := range allowed {
		out[i] = e.Tag
	}
	return out
}

// Newest returns the newest tag the pattern allows, or false when it allows
// none of them.
func Newest(p Pattern, tags []Tag) (Tag, bool) {
	sorted := Sort(p, tags)
	if len(sorted) == 0 {
		return Tag{}, false
	}
	return sorted[0], true
}
