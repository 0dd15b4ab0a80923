package imagepolicy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func names(tags []Tag) []string {
	var out []string
	for _, t := range tags {
		out = append(out, t.Name)
	}
	return out
}

func tagList(ns ...string) []Tag {
	out := make([]Tag, len(ns))
	for i, n := range ns {
		out[i] = Tag{Name: n}
	}
	return out
}

// TestSelectFluxExamples runs the examples of Flux v2's ImagePolicy
// documentation and of the reflector's policy tests through New, the
// constructor an ImagePolicy object is read with, and through the same
// policy written as an annotation.
func TestSelectFluxExamples(t *testing.T) {
	tests := []struct {
		name       string
		spec       Spec
		annotation string
		tags       []string
		want       string
	}{
		{
			name:       "semver range 5.0.x",
			spec:       Spec{Kind: Semver, Range: "5.0.x"},
			annotation: "semver:5.0.x",
			tags:       []string{"5.0.1", "5.0.3", "5.1.0", "4.9.9", "5.0.2"},
			want:       "5.0.3",
		},
		{
			name:       "semver pre-releases through a filter",
			spec:       Spec{Kind: Semver, Range: "^1.x-0", FilterPattern: ".*-rc.*"},
			annotation: "semver:^1.x-0;filter=.*-rc.*",
			tags:       []string{"1.0.0", "1.1.0", "1.2.0-rc.1", "1.2.0-rc.2", "1.3.0"},
			want:       "1.2.0-rc.2",
		},
		{
			name:       "alphabetical asc on a RELEASE timestamp",
			spec:       Spec{Kind: Alphabetical, Order: Asc, FilterPattern: `^RELEASE\.(?P<timestamp>.*)Z$`, Extract: "$timestamp"},
			annotation: `alphabetical:asc;extract=$timestamp;filter=^RELEASE\.(?P<timestamp>.*)Z$`,
			tags:       []string{"RELEASE.2021-01-20T23-20-12Z", "RELEASE.2021-03-01T04-11-20Z", "RELEASE.2020-12-31T00-00-00Z", "edge"},
			want:       "RELEASE.2021-03-01T04-11-20Z",
		},
		{
			name:       "numerical asc on a main-<sha>-<ts> build",
			spec:       Spec{Kind: Numerical, Order: Asc, FilterPattern: `^main-[a-fA-F0-9]+-(?P<ts>.*)`, Extract: "$ts"},
			annotation: `numerical:asc;extract=$ts;filter=^main-[a-fA-F0-9]+-(?P<ts>.*)`,
			// 1611234567 < 1611299999 numerically and alphabetically; 99
			// is the smallest number but the greatest string.
			tags: []string{"main-abc123-1611234567", "main-def456-1611299999", "main-0a1b2c-99", "dev-fff-1700000000"},
			want: "main-def456-1611299999",
		},
		{
			name:       "alphabetical asc (reflector tests)",
			spec:       Spec{Kind: Alphabetical},
			annotation: "alphabetical:asc",
			tags:       []string{"xenial", "yakkety", "zesty", "artful", "bionic"},
			want:       "zesty",
		},
		{
			name:       "alphabetical desc (reflector tests)",
			spec:       Spec{Kind: Alphabetical, Order: Desc},
			annotation: "alphabetical:desc",
			tags:       []string{"xenial", "yakkety", "zesty", "artful", "bionic"},
			want:       "artful",
		},
		{
			name:       "numerical asc (reflector tests)",
			spec:       Spec{Kind: Numerical, Order: Asc},
			annotation: "numerical:asc",
			tags:       []string{"-62", "-88", "73", "72", "15", "16", "15"},
			want:       "73",
		},
		{
			name:       "numerical desc (reflector tests)",
			spec:       Spec{Kind: Numerical, Order: Desc},
			annotation: "numerical:desc",
			tags:       []string{"-62", "-88", "73", "72", "15", "16", "15"},
			want:       "-88",
		},
		{
			name:       "numerical reads decimals, not digits",
			spec:       Spec{Kind: Numerical},
			annotation: "numerical:asc",
			tags:       []string{"9", "10.5", "10.25"},
			want:       "10.5",
		},
		{
			name:       "extract with ${name} and a literal suffix",
			spec:       Spec{Kind: Alphabetical, FilterPattern: `^build-(?P<day>\d{8})-(?P<n>\d)$`, Extract: "${day}${n}"},
			annotation: `alphabetical:asc;extract=${day}${n};filter=^build-(?P<day>\d{8})-(?P<n>\d)$`,
			tags:       []string{"build-20240102-1", "build-20240101-9", "build-20240102-2", "build-2024-x"},
			want:       "build-20240102-2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fromSpec, err := New(tt.spec)
			if err != nil {
				t.Fatalf("New(%+v): %v", tt.spec, err)
			}
			fromAnnotation, err := Parse(tt.annotation)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.annotation, err)
			}
			if fromSpec.String() != tt.annotation {
				t.Errorf("New(%+v).String() = %q, want %q", tt.spec, fromSpec, tt.annotation)
			}
			for _, p := range []Pattern{fromSpec, fromAnnotation} {
				sel := Select(p, tagList(tt.tags...))
				got, ok := sel.Newest()
				if !ok || got.Name != tt.want {
					t.Errorf("%s chose %q (%v) from %q, want %q", p, got.Name, ok, tt.tags, tt.want)
				}
				if len(sel.Skipped) != 0 {
					t.Errorf("%s skipped %v, want none", p, sel.Skipped)
				}
				if NeedsCreated(p) {
					t.Errorf("NeedsCreated(%s) = true: it orders the tags themselves", p)
				}
			}
		})
	}
}

func TestSelectOrders(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		pattern string
		tags    []Tag
		want    []string
	}{
		{
			pattern: "alphabetical:asc",
			tags:    tagList("b", "a", "c", "latest", "C"),
			want:    []string{"c", "b", "a", "C"},
		},
		{
			pattern: "alphabetical:desc",
			tags:    tagList("b", "a", "c"),
			want:    []string{"a", "b", "c"},
		},
		{
			// Equal values: the newer image, then the greater name.
			pattern: `numerical:asc;extract=$n;filter=^(?:v|r)(?P<n>\d+)$`,
			tags:    []Tag{{Name: "v1", Created: at(1)}, {Name: "r1", Created: at(2)}, {Name: "v2"}, {Name: "r2"}},
			want:    []string{"v2", "r2", "r1", "v1"},
		},
		{
			pattern: "numerical:asc",
			tags:    tagList("1e3", "999", "0x10", "007"),
			want:    []string{"1e3", "999", "007"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			if got := names(Sort(MustParse(tt.pattern), tt.tags)); !slices.Equal(got, tt.want) {
				t.Errorf("Sort(%s) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

// TestNumericalSkipsAndReports: one tag that is not a number does not stop
// the policy, and it is reported, not dropped silently.
func TestNumericalSkipsAndReports(t *testing.T) {
	p := MustParse(`numerical:asc;extract=$ts;filter=^main-(?P<ts>.*)$`)
	sel := Select(p, tagList("main-100", "main-abc", "main-200", "main-NaN", "main-Inf", "dev-300", "latest", "main-150.sig"))
	if got := names(sel.Tags); !slices.Equal(got, []string{"main-200", "main-100"}) {
		t.Errorf("tags = %q, want main-200 main-100", got)
	}
	var skipped []string
	for _, s := range sel.Skipped {
		skipped = append(skipped, s.Tag)
		if s.Reason == "" || s.Value != strings.TrimPrefix(s.Tag, "main-") {
			t.Errorf("skipped %+v: want the extracted value and a reason", s)
		}
	}
	// dev-300 is filtered out, latest and the signature excluded: those
	// are choices, not problems.
	if !slices.Equal(skipped, []string{"main-abc", "main-NaN", "main-Inf"}) {
		t.Errorf("skipped = %q, want main-abc main-NaN main-Inf", skipped)
	}
	sum := sel.SkippedSummary()
	for _, want := range []string{"3 tag(s) skipped", `main-abc (value "abc"): not a number`} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q does not contain %q", sum, want)
		}
	}

	// Without a filter, every non-numeric tag is reported.
	sel = Select(MustParse("numerical:desc"), tagList("3", "x", "2", "y", "z", "w"))
	if got := names(sel.Tags); !slices.Equal(got, []string{"2", "3"}) {
		t.Errorf("numerical:desc tags = %q, want 2 3", got)
	}
	if sum := sel.SkippedSummary(); !strings.HasPrefix(sum, "4 tag(s) skipped: x: not a number") || !strings.HasSuffix(sum, "and 1 more") {
		t.Errorf("summary = %q", sum)
	}
	if sum := Select(MustParse("alphabetical:asc"), tagList("x")).SkippedSummary(); sum != "" {
		t.Errorf("summary with nothing skipped = %q, want empty", sum)
	}
}

func TestExclusions(t *testing.T) {
	sigs := tagList("1.0.0", "sha256-0123abcd.sig", "1.1.0", "zzz.sig")
	// The default, for annotations and for New without a list.
	for _, p := range []Pattern{MustParse("glob:*"), MustParse("alphabetical:asc"), MustParse("semver:*"), All, {}} {
		for _, tag := range names(sigs) {
			if strings.HasSuffix(tag, ".sig") && p.Allows(tag) {
				t.Errorf("%s allows %q, want signatures excluded by default", p, tag)
			}
		}
	}
	if got, _ := Newest(MustParse("alphabetical:asc"), sigs); got.Name != "1.1.0" {
		t.Errorf("alphabetical:asc chose %q, want 1.1.0 (zzz.sig excluded)", got.Name)
	}
	def, err := New(Spec{Kind: Alphabetical})
	if err != nil || !slices.Equal(def.Exclusions(), DefaultExclusions) {
		t.Errorf("New without exclusions: %v %q, want %q", err, def.Exclusions(), DefaultExclusions)
	}
	// An explicit empty list excludes nothing, as in Flux.
	none, err := New(Spec{Kind: Alphabetical, Exclusions: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Newest(none, sigs); got.Name != "zzz.sig" {
		t.Errorf("with no exclusions chose %q, want zzz.sig", got.Name)
	}
	// A list replaces the default.
	custom, err := New(Spec{Kind: Alphabetical, Exclusions: []string{`^1\.1`, `^zzz`}})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(Sort(custom, sigs)); !slices.Equal(got, []string{"sha256-0123abcd.sig", "1.0.0"}) {
		t.Errorf("custom exclusions: %q", got)
	}
	if _, err := New(Spec{Kind: Alphabetical, Exclusions: []string{"ok", "("}}); err == nil || !strings.Contains(err.Error(), `bad exclusion 2, "("`) {
		t.Errorf("bad exclusion: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{}, `unknown policy kind ""`},
		{Spec{Kind: Glob}, `unknown policy kind "glob"`},
		{Spec{Kind: Semver}, "empty semver range"},
		{Spec{Kind: Semver, Range: "x.y"}, `bad semver constraint "x.y"`},
		{Spec{Kind: Semver, Range: "1.x", Order: Asc}, "takes no order"},
		{Spec{Kind: Numerical, Order: "up"}, `bad numerical order "up"`},
		{Spec{Kind: Alphabetical, Range: "1.x"}, "takes no semver range"},
		{Spec{Kind: Numerical, Extract: "$ts"}, "needs a filter pattern"},
		{Spec{Kind: Numerical, FilterPattern: "[", Extract: "$ts"}, `bad filter pattern "["`},
		{Spec{Kind: Numerical, FilterPattern: "(?P<ts>.*)", Extract: "${ts"}, "unclosed ${"},
	}
	for _, tt := range tests {
		if _, err := New(tt.spec); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tt.spec, err, tt.want)
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		pattern string
		a, b    string
		want    int
		ok      bool
	}{
		{"semver:*", "1.10.0", "1.9.0", 1, true},
		{"numerical:asc", "9", "10", -1, true},
		{"numerical:desc", "9", "10", 1, true},
		{"alphabetical:asc", "9", "10", 1, true},
		{"alphabetical:desc", "a", "a", 0, true},
		{`numerical:asc;extract=$1;filter=^b-(\d+)$`, "b-10", "b-9", 1, true},
		{"numerical:asc", "x", "1", 0, false},
		{"glob:*", "a", "b", 0, false},
		{"regex:.", "a", "b", 0, false},
	}
	for _, tt := range tests {
		c, ok := MustParse(tt.pattern).Compare(tt.a, tt.b)
		if ok != tt.ok || (c > 0) != (tt.want > 0) || (c < 0) != (tt.want < 0) {
			t.Errorf("%s Compare(%q, %q) = %d %v, want sign %d %v", tt.pattern, tt.a, tt.b, c, ok, tt.want, tt.ok)
		}
	}
}
