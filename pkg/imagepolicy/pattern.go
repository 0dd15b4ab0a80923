// Package imagepolicy parses the tag patterns that say which image tags a
// container may be updated to, and picks the newest allowed tag.
//
// A pattern is written as in Flux v1's tag.<container> annotation, with the
// policies of Flux v2's ImagePolicy added:
//
//	glob:<glob>           only * is special; the default when there is no prefix
//	semver:<constraint>   a Masterminds semver constraint, such as ~1.2 or >=2.0.0 <3
//	regex:<re>            a Go regular expression, unanchored (regexp: also works)
//	alphabetical:asc|desc the greatest (asc) or least (desc) tag by byte order
//	numerical:asc|desc    the greatest (asc) or least (desc) tag read as a number
//
// Glob and regex patterns choose the most recently created image; the others
// order the tags themselves. semver:, alphabetical: and numerical: take
// options after a ';', as Flux v2's filterTags does:
//
//	numerical:asc;extract=$ts;filter=^main-[a-f0-9]+-(?P<ts>\d+)$
//
// filter=<re> keeps only the tags the regular expression matches, and
// extract=<template> orders them by what the template makes of the match
// ($name or ${name} for a named group, $1 for a numbered one) instead of by
// the whole tag. filter= must come last: its regular expression runs to the
// end of the string, so it may hold ';' itself, while a policy, an order, a
// semver constraint or a template never holds one. That makes the syntax
// unambiguous without escaping; a ':'-separated form would not be, as ':'
// appears both in regular expressions ((?:...), [[:digit:]]) and in
// constraints.
//
// Tags matching an exclusion are never chosen. Patterns read from an
// annotation exclude Flux's default, ^.*\.sig$ (cosign signatures); New
// takes an ImageRepository's exclusionList instead. The tag "latest" is
// chosen only by glob:latest, whatever the kind.
//
// Unlike Flux v1, an invalid constraint or regular expression is an error
// instead of a pattern that matches every tag.
package imagepolicy

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Kind is the kind of a pattern.
type Kind string

// The kinds of pattern, named by their prefix.
const (
	Glob         Kind = "glob"
	Semver       Kind = "semver"
	Regexp       Kind = "regex"
	Alphabetical Kind = "alphabetical"
	Numerical    Kind = "numerical"
)

// Order is the order of an alphabetical or numerical policy, as in Flux v2:
// with Asc the last tag in ascending order (the greatest) is chosen, with
// Desc the first (the least).
type Order string

// The orders.
const (
	Asc  Order = "asc"
	Desc Order = "desc"
)

// Prefixes as written in annotations.
const (
	globPrefix      = "glob:"
	semverPrefix    = "semver:"
	regexPrefix     = "regex:"
	regexpAltPrefix = "regexp:"
	alphaPrefix     = "alphabetical:"
	numPrefix       = "numerical:"

	filterOption  = "filter="
	extractOption = "extract="
)

// DefaultExclusions is Flux v2's default exclusionList: cosign signature
// tags, which are not images to run.
var DefaultExclusions = []string{`^.*\.sig$`}

var defaultExclude = []*regexp.Regexp{regexp.MustCompile(DefaultExclusions[0])}

// Pattern says which tags are allowed and how they are ordered. The zero
// Pattern is glob:*, which allows every tag but latest and signatures.
// Build one with Parse or New.
type Pattern struct {
	kind       Kind
	expr       string // without the prefix; "" in the zero value means "*"
	constraint *semver.Constraints
	re         *regexp.Regexp
	order      Order
	filter     *regexp.Regexp // Flux's filterTags.pattern
	extract    string         // Flux's filterTags.extract
	// exclude is nil for the default exclusions; exclusionSet says an
	// explicit list (possibly empty) was given.
	exclude      []*regexp.Regexp
	exclusionSet bool
}

// All is the pattern used when a container has none: glob:*.
var All = Pattern{kind: Glob, expr: "*"}

// Parse reads a pattern. The empty string is glob:*; a string without a known
// prefix is a glob. The error says what is wrong with an invalid pattern.
func Parse(s string) (Pattern, error) {
	s = strings.TrimSpace(s)
	bad := func(format string, args ...any) (Pattern, error) {
		return Pattern{}, fmt.Errorf("invalid tag pattern %q: %s", s, fmt.Sprintf(format, args...))
	}
	switch {
	case s == "":
		return All, nil
	case strings.HasPrefix(s, semverPrefix), strings.HasPrefix(s, alphaPrefix), strings.HasPrefix(s, numPrefix):
		kind, rest, _ := strings.Cut(s, ":")
		arg, opts, _ := strings.Cut(rest, ";")
		spec := Spec{Kind: Kind(kind)}
		arg = strings.TrimSpace(arg)
		if spec.Kind == Semver {
			if arg == "" {
				return bad("empty semver constraint (for example semver:~1.2 or semver:>=1.0.0 <2)")
			}
			spec.Range = arg
		} else {
			if arg == "" {
				return bad("no order: write %s:asc or %s:desc", kind, kind)
			}
			spec.Order = Order(arg)
		}
		if err := parseOptions(opts, &spec); err != nil {
			return bad("%v", err)
		}
		p, err := New(spec)
		if err != nil {
			return bad("%v", err)
		}
		return p, nil
	case strings.HasPrefix(s, regexPrefix), strings.HasPrefix(s, regexpAltPrefix):
		expr, ok := strings.CutPrefix(s, regexPrefix)
		if !ok {
			expr = strings.TrimPrefix(s, regexpAltPrefix)
		}
		if expr == "" {
			return bad("empty regular expression (use glob:* to allow every tag)")
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return bad("bad regular expression: %v", err)
		}
		return Pattern{kind: Regexp, expr: expr, re: re}, nil
	}
	expr := strings.TrimPrefix(s, globPrefix)
	if expr == "" {
		return bad("empty glob (use glob:* to allow every tag)")
	}
	if kind, _, ok := strings.Cut(expr, ":"); ok && isWord(kind) && !strings.HasPrefix(s, globPrefix) {
		// Tags cannot contain ':', so this glob would match nothing: it is
		// a misspelt prefix such as "semvar:~1".
		return bad("unknown kind %q (want glob:, semver:, regex:, alphabetical: or numerical:)", kind)
	}
	if strings.Contains(expr, ";") {
		// Tags cannot contain ';' either: these are options on a kind
		// that takes none.
		return bad("a glob takes no options and tags cannot contain ';' (filter= and extract= go with semver:, alphabetical: or numerical:)")
	}
	return Pattern{kind: Glob, expr: expr}, nil
}

// parseOptions reads the options after a policy's first ';' into spec.
func parseOptions(opts string, spec *Spec) error {
	seen := map[string]bool{}
	for opts != "" {
		if re, ok := strings.CutPrefix(opts, filterOption); ok {
			if strings.Contains(re, ";"+extractOption) {
				return fmt.Errorf("filter= must be the last option: its regular expression runs to the end, so move extract= before it")
			}
			spec.FilterPattern = re
			if re == "" {
				return fmt.Errorf("empty filter= regular expression")
			}
			return nil
		}
		opt, rest, _ := strings.Cut(opts, ";")
		opts = rest
		name, value, _ := strings.Cut(opt, "=")
		if seen[name] {
			return fmt.Errorf("option %s= given twice", name)
		}
		seen[name] = true
		switch name + "=" {
		case extractOption:
			if value == "" {
				return fmt.Errorf("empty extract= template")
			}
			spec.Extract = value
		default:
			return fmt.Errorf("unknown option %q (want extract=<template> or filter=<regex>, filter= last)", opt)
		}
	}
	return nil
}

// Spec is a policy as a Flux v2 ImagePolicy and its ImageRepository state
// it, for New.
type Spec struct {
	// Kind is Semver, Alphabetical or Numerical.
	Kind Kind
	// Range is the semver constraint, for Semver (policy.semver.range).
	Range string
	// Order is the order of Alphabetical and Numerical; "" means Asc, as
	// in Flux.
	Order Order
	// FilterPattern keeps only the tags it matches (filterTags.pattern),
	// unanchored as in Flux; "" keeps every tag.
	FilterPattern string
	// Extract makes the value to order by from the FilterPattern match
	// (filterTags.extract), with regexp.Expand's $name syntax; "" orders
	// by the whole tag.
	Extract string
	// Exclusions are regular expressions of tags never chosen (the
	// ImageRepository's exclusionList). nil means DefaultExclusions, an
	// empty non-nil slice means none, as in Flux where the default applies
	// only when the field is absent.
	Exclusions []string
}

// New builds a pattern from a Flux v2 style policy. The error says which
// field is wrong and why.
func New(s Spec) (Pattern, error) {
	p := Pattern{kind: s.Kind}
	switch s.Kind {
	case Semver:
		r := strings.TrimSpace(s.Range)
		if r == "" {
			return Pattern{}, fmt.Errorf("empty semver range (for example ~1.2 or >=1.0.0 <2)")
		}
		c, err := semver.NewConstraint(r)
		if err != nil {
			return Pattern{}, fmt.Errorf("bad semver constraint %q: %w", r, err)
		}
		p.expr, p.constraint = r, c
		if s.Order != "" {
			return Pattern{}, fmt.Errorf("a semver policy takes no order (got %q)", s.Order)
		}
	case Alphabetical, Numerical:
		switch o := Order(strings.ToLower(string(s.Order))); o {
		case "":
			p.order = Asc
		case Asc, Desc:
			p.order = o
		default:
			return Pattern{}, fmt.Errorf("bad %s order %q: want asc or desc", s.Kind, s.Order)
		}
		p.expr = string(p.order)
		if s.Range != "" {
			return Pattern{}, fmt.Errorf("an %s policy takes no semver range (got %q)", s.Kind, s.Range)
		}
	default:
		return Pattern{}, fmt.Errorf("unknown policy kind %q (want semver, alphabetical or numerical)", s.Kind)
	}
	if s.FilterPattern != "" {
		re, err := regexp.Compile(s.FilterPattern)
		if err != nil {
			return Pattern{}, fmt.Errorf("bad filter pattern %q: %w", s.FilterPattern, err)
		}
		p.filter = re
	}
	if s.Extract != "" {
		if p.filter == nil {
			return Pattern{}, fmt.Errorf("extract %q needs a filter pattern to extract from", s.Extract)
		}
		if err := checkTemplate(p.filter, s.Extract); err != nil {
			return Pattern{}, err
		}
		p.extract = s.Extract
	}
	if s.Exclusions != nil {
		p.exclusionSet = true
		p.exclude = make([]*regexp.Regexp, 0, len(s.Exclusions))
		for i, e := range s.Exclusions {
			re, err := regexp.Compile(e)
			if err != nil {
				return Pattern{}, fmt.Errorf("bad exclusion %d, %q: %w", i+1, e, err)
			}
			p.exclude = append(p.exclude, re)
		}
	}
	return p, nil
}

// checkTemplate refuses an extract template naming a group the filter does
// not have: regexp.Expand would silently make it empty, and every tag would
// then have the same value.
func checkTemplate(re *regexp.Regexp, tmpl string) error {
	names := re.SubexpNames()
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != '$' || i+1 >= len(tmpl) {
			continue
		}
		rest := tmpl[i+1:]
		if rest[0] == '$' {
			i++
			continue
		}
		var name string
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return fmt.Errorf("extract %q: unclosed ${", tmpl)
			}
			name = rest[1:end]
		} else {
			end := 0
			for end < len(rest) && (rest[end] == '_' || rest[end] >= '0' && rest[end] <= '9' || rest[end] >= 'a' && rest[end] <= 'z' || rest[end] >= 'A' && rest[end] <= 'Z') {
				end++
			}
			name = rest[:end]
		}
		if name == "" {
			continue
		}
		if n, err := strconv.Atoi(name); err == nil {
			if n > re.NumSubexp() {
				return fmt.Errorf("extract %q: the filter pattern has no group %d", tmpl, n)
			}
			continue
		}
		found := false
		for _, sub := range names {
			if sub == name {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("extract %q: the filter pattern has no group named %q (write it as (?P<%s>...))", tmpl, name, name)
		}
	}
	return nil
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

// Expr returns the pattern without its prefix and options: the glob, the
// constraint, the regular expression or the order.
func (p Pattern) Expr() string {
	if p.expr == "" {
		return "*"
	}
	return p.expr
}

// Order returns the order of an alphabetical or numerical pattern, and ""
// for other kinds.
func (p Pattern) Order() Order { return p.order }

// Filter returns the filter's regular expression and the extract template,
// "" when there are none.
func (p Pattern) Filter() (pattern, extract string) {
	if p.filter == nil {
		return "", ""
	}
	return p.filter.String(), p.extract
}

// Exclusions returns the regular expressions of the tags never chosen.
func (p Pattern) Exclusions() []string {
	ex := p.exclusions()
	out := make([]string, len(ex))
	for i, re := range ex {
		out[i] = re.String()
	}
	return out
}

func (p Pattern) exclusions() []*regexp.Regexp {
	if p.exclusionSet {
		return p.exclude
	}
	return defaultExclude
}

// String returns the pattern as Parse reads it, such as "glob:*",
// "semver:~1.2" or "numerical:asc;extract=$ts;filter=^b-(?P<ts>\d+)$".
// Exclusions other than the default are not part of it.
func (p Pattern) String() string {
	s := string(p.Kind()) + ":" + p.Expr()
	if p.extract != "" {
		s += ";" + extractOption + p.extract
	}
	if p.filter != nil {
		s += ";" + filterOption + p.filter.String()
	}
	return s
}

// value returns what the policy orders tag by: the tag, or what the
// extract template makes of the filter's match. ok is false when the filter
// does not match.
func (p Pattern) value(tag string) (string, bool) {
	if p.filter == nil {
		return tag, true
	}
	m := p.filter.FindStringSubmatchIndex(tag)
	if m == nil {
		return "", false
	}
	if p.extract == "" {
		return tag, true
	}
	return string(p.filter.ExpandString(nil, p.extract, tag, m)), true
}

// parseNumber reads a numerical policy's value as Flux does (a float), but
// refuses NaN and infinities, which do not order.
func parseNumber(v string) (float64, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// Matches says whether the tag matches the pattern's expression and
// filter. It does not apply the rules of Allows.
func (p Pattern) Matches(tag string) bool {
	v, ok := p.value(tag)
	if !ok {
		return false
	}
	switch p.Kind() {
	case Semver:
		ver, err := semver.NewVersion(v)
		return err == nil && p.constraint.Check(ver)
	case Regexp:
		return p.re.MatchString(v)
	case Alphabetical:
		return true
	case Numerical:
		_, ok := parseNumber(v)
		return ok
	default:
		return globMatch(p.Expr(), v)
	}
}

// Excluded says whether the tag matches one of the exclusions.
func (p Pattern) Excluded(tag string) bool {
	for _, re := range p.exclusions() {
		if re.MatchString(tag) {
			return true
		}
	}
	return false
}

// Allows says whether the tag may be chosen: it matches, it is not
// excluded, and it is not "latest" (in any case) unless the pattern is
// exactly glob:latest.
func (p Pattern) Allows(tag string) bool {
	if strings.EqualFold(tag, "latest") && !p.isLatest() {
		return false
	}
	return !p.Excluded(tag) && p.Matches(tag)
}

func (p Pattern) isLatest() bool {
	return p.Kind() == Glob && p.Expr() == "latest"
}

// NeedsCreated says whether choosing among the tags needs their images'
// creation times: true for glob and regex patterns, which order tags by it.
// Semver, alphabetical and numerical order the tags themselves, and a glob
// without * allows at most one tag.
func NeedsCreated(p Pattern) bool {
	switch p.Kind() {
	case Semver, Alphabetical, Numerical:
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
