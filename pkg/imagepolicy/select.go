package imagepolicy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Tag is an image tag and, when known, the creation time of its image.
type Tag struct {
	Name    string
	Created time.Time
}

// Skipped is a tag that passed the pattern's filter and exclusions but could
// not be ordered, and why: with a numerical policy, a tag (or extracted
// value) that is not a number. The caller shows these so that one odd tag
// does not silently leave a policy without a choice.
type Skipped struct {
	Tag    string
	Value  string // what the policy tried to order by
	Reason string
}

func (s Skipped) String() string {
	if s.Value != s.Tag {
		return fmt.Sprintf("%s (value %q): %s", s.Tag, s.Value, s.Reason)
	}
	return s.Tag + ": " + s.Reason
}

// Selection is the result of Select.
type Selection struct {
	// Tags are the allowed tags, newest first.
	Tags []Tag
	// Skipped are the tags the policy could not order, in input order.
	Skipped []Skipped
}

// Newest returns the first of the allowed tags, or false when there is none.
func (s Selection) Newest() (Tag, bool) {
	if len(s.Tags) == 0 {
		return Tag{}, false
	}
	return s.Tags[0], true
}

// SkippedSummary says how many tags were skipped, with the first few, for
// a warning line; "" when none was.
func (s Selection) SkippedSummary() string {
	if len(s.Skipped) == 0 {
		return ""
	}
	const show = 3
	names := make([]string, 0, show)
	for _, sk := range s.Skipped[:min(show, len(s.Skipped))] {
		names = append(names, sk.String())
	}
	more := ""
	if len(s.Skipped) > show {
		more = fmt.Sprintf(" and %d more", len(s.Skipped)-show)
	}
	return fmt.Sprintf("%d tag(s) skipped: %s%s", len(s.Skipped), strings.Join(names, "; "), more)
}

// Select returns the tags the pattern allows, newest first, and the tags it
// had to skip.
//
// Semver patterns order by version; tags that are not versions are left
// out, and pre-releases are allowed only when the constraint has one.
// Alphabetical and numerical patterns order by the tag, or by the value the
// filter extracts from it: Asc puts the greatest first, Desc the least.
// A numerical pattern skips a value that is not a number and reports it in
// Skipped (the other tags are still ordered).
// Glob and regex patterns order by creation time; a zero Created (unknown)
// counts as the oldest. Ties go to the newer image, then to the greater name.
func Select(p Pattern, tags []Tag) Selection {
	type entry struct {
		Tag
		value string
		v     *semver.Version
		num   float64
	}
	var sel Selection
	var allowed []entry
	for _, t := range tags {
		if p.Kind() == Numerical && p.numericCandidate(t.Name) {
			if v, _ := p.value(t.Name); !p.Matches(t.Name) {
				sel.Skipped = append(sel.Skipped, Skipped{Tag: t.Name, Value: v, Reason: "not a number, so a numerical policy cannot order it"})
				continue
			}
		}
		if !p.Allows(t.Name) {
			continue
		}
		e := entry{Tag: t}
		e.value, _ = p.value(t.Name)
		switch p.Kind() {
		case Semver:
			v, err := semver.NewVersion(e.value)
			if err != nil {
				continue
			}
			e.v = v
		case Numerical:
			e.num, _ = parseNumber(e.value)
		}
		allowed = append(allowed, e)
	}
	desc := p.order == Desc
	slices.SortStableFunc(allowed, func(a, b entry) int {
		c := 0
		switch p.Kind() {
		case Semver:
			c = b.v.Compare(a.v)
		case Alphabetical:
			c = strings.Compare(b.value, a.value)
		case Numerical:
			c = cmp.Compare(b.num, a.num)
		}
		if desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmp.Compare(b.Name, a.Name)
	})
	sel.Tags = make([]Tag, len(allowed))
	for i, e := range allowed {
		sel.Tags[i] = e.Tag
	}
	return sel
}

// numericCandidate says whether tag passes every rule of a numerical
// pattern but the number itself: those tags are worth reporting.
func (p Pattern) numericCandidate(tag string) bool {
	if strings.EqualFold(tag, "latest") || p.Excluded(tag) {
		return false
	}
	_, ok := p.value(tag)
	return ok
}

// Sort returns the tags the pattern allows, newest first: Select's Tags.
func Sort(p Pattern, tags []Tag) []Tag {
	return Select(p, tags).Tags
}

// Newest returns the newest tag the pattern allows, or false when it allows
// none of them.
func Newest(p Pattern, tags []Tag) (Tag, bool) {
	return Select(p, tags).Newest()
}

// Compare orders two tags the pattern allows by the pattern's own order
// (not creation time): above zero when a is newer than b, below when older,
// zero when equal. ok is false for glob and regex patterns, which order by
// creation time, and when either tag is not allowed.
func (p Pattern) Compare(a, b string) (c int, ok bool) {
	if !p.Allows(a) || !p.Allows(b) {
		return 0, false
	}
	va, _ := p.value(a)
	vb, _ := p.value(b)
	switch p.Kind() {
	case Semver:
		x, err1 := semver.NewVersion(va)
		y, err2 := semver.NewVersion(vb)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		c = x.Compare(y)
	case Alphabetical:
		c = strings.Compare(va, vb)
	case Numerical:
		x, _ := parseNumber(va)
		y, _ := parseNumber(vb)
		c = cmp.Compare(x, y)
	default:
		return 0, false
	}
	if p.order == Desc {
		c = -c
	}
	return c, true
}
