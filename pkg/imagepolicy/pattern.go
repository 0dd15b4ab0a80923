// Package imagepolicy parses the tag patterns that say which image tags a
// container may be updated to, and picks the newest allowed tag.
//
// A pattern is written as in Flux v1's tag.<container> annotation:
//
//	glob:<glob>         only * is special; the default when there is no prefix
//	semver:<constraint> a Masterminds semver constraint, such as ~1.2 or >=2.0.0 <3
//	regex:<re>          a Go regular expression, unanchored (regexp: also works)
//
// Unlike Flux v1, an invalid constraint or regular expression is an error
// instead of a pattern that matches every tag.
package imagepolicy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Kind is the kind of a pattern.
type Kind string

// The kinds of pattern, named by their prefix.
const (
	Glob   Kind = "glob"
	Semver Kind = "semver"
	Regexp Kind = "regex"
)

// Prefixes as written in annotations.
const (
	globPrefix      = "glob:"
	semverPrefix    = "semver:"
	regexPrefix     = "regex:"
	regexpAltPrefix = "regexp:"
)

// Pattern says which tags are allowed. The zero Pattern is glob:*, which
// allows every tag but latest. Build one with Parse.
type Pattern struct {
	kind       Kind
	expr       string // without the prefix; "" in the zero value means "*"
	constraint *semver.Constraints
	re         *regexp.Regexp
}

// All is the pattern used when a container has none: glob:*.
var All = Pattern{kind: Glob, expr: "*"}

// Parse reads a pattern. The empty string is glob:*; a string without a known
// prefix is a glob. The error says what is wrong with an invalid pattern.
func Parse(s string) (Pattern, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return All, nil
	case strings.HasPrefix(s, semverPrefix):
		expr := strings.TrimSpace(strings.TrimPrefix(s, semverPrefix))
		if expr == "" {
			return Pattern{}, fmt.Errorf("invalid tag pattern %q: empty semver constraint (for example semver:~1.2 or semver:>=1.0.0 <2)", s)
		}
		c, err := semver.NewConstraint(expr)
		if err != nil {
			return Pattern{}, fmt.Errorf("invalid tag pattern %q: bad semver constraint: %w", s, err)
		}
		return Pattern{kind: Semver, expr: expr, constraint: c}, nil
	case strings.HasPrefix(s, regexPrefix), strings.HasPrefix(s, regexpAltPrefix):
		expr, ok := strings.CutPrefix(s, regexPrefix)
		if !ok {
			expr = strings.TrimPrefix(s, regexpAltPrefix)
		}
		if expr == "" {
			return Pattern{}, fmt.Errorf("invalid tag pattern %q: empty regular expression (use glob:* to allow every tag)", s)
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return Pattern{}, fmt.Errorf("invalid tag pattern %q: bad regular expression: %w", s, err)
		}
		return Pattern{kind: Regexp, expr: expr, re: re}, nil
	}
	expr := strings.TrimPrefix(s, globPrefix)
	if expr == "" {
		return Pattern{}, fmt.Errorf("invalid tag pattern %q: empty glob (use glob:* to allow every tag)", s)
	}
	if kind, _, ok := strings.Cut(expr, ":"); ok && isWord(kind) && !strings.HasPrefix(s, globPrefix) {
		// Tags cannot contain ':', so this glob would match nothing: it is
		// a misspelt prefix such as "semvar:~1".
		return Pattern{}, fmt.Errorf("invalid tag pattern %q: unknown kind %q (want glob:, semver: or regex:)", s, kind)
	}
	return Pattern{kind: Glob, expr: expr}, nil
}

// MustParse is Parse for patterns known to be valid; it panics on an error.
func MustParse(s string) Pattern {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// Kind returns the kind of the pattern.
func (p Pattern) Kind() Kind {
	if p.kind == "" {
		return Glob
	}
	return p.kind
}

// Expr returns the pattern without its prefix.
func (p Pattern) Expr() string {
	if p.expr == "" {
		return "*"
	}
	return p.expr
}

// String returns the pattern with its prefix, such as "glob:*" or
// "semver:~1.2".
func (p Pattern) String() string {
	return string(p.Kind()) + ":" + p.Expr()
}

// Matches says whether the tag matches the pattern's expression. It does not
// apply the rules of Allows.
func (p Pattern) Matches(tag string) bool {
	switch p.Kind() {
	case Semver:
		v, err := semver.NewVersion(tag)
		return err == nil && p.constraint.Check(v)
	case Regexp:
		return p.re.MatchString(tag)
	default:
		return globMatch(p.Expr(), tag)
	}
}

// Allows says whether the tag may be chosen: it matches, and it is not
// "latest" (in any case) unless the pattern is exactly glob:latest.
func (p Pattern) Allows(tag string) bool {
	if strings.EqualFold(tag, "latest") && !p.isLatest() {
		return false
	}
	return p.Matches(tag)
}

func (p Pattern) isLatest() bool {
	return p.Kind() == Glob && p.Expr() == "latest"
}

// NeedsCreated says whether choosing among the tags needs their images'
// creation times: true for glob and regex patterns, which order tags by it.
// Semver orders by version, and a glob without * allows at most one tag.
func NeedsCreated(p Pattern) bool {
	switch p.Kind() {
	case Semver:
		return false
	case Glob:
		return strings.Contains(p.Expr(), "*")
	default:
		return true
	}
}

// globMatch matches s against a glob in which only * is special: it stands
// for any run of characters, including none.
func globMatch(glob, s string) bool {
	parts := strings.Split(glob, "*")
	if len(parts) == 1 {
		return glob == s
	}
	first, last := parts[0], parts[len(parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return strings.HasSuffix(s, last)
}
