package imagepolicy

import (
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		kind    Kind
		str     string
		wantErr string // substring of the error; "" means no error
	}{
		{in: "", kind: Glob, str: "glob:*"},
		{in: "  ", kind: Glob, str: "glob:*"},
		{in: "*", kind: Glob, str: "glob:*"},
		{in: "glob:*", kind: Glob, str: "glob:*"},
		{in: "master-*", kind: Glob, str: "glob:master-*"},
		{in: "glob:v1.*-alpine", kind: Glob, str: "glob:v1.*-alpine"},
		{in: "latest", kind: Glob, str: "glob:latest"},
		{in: "semver:~1.2", kind: Semver, str: "semver:~1.2"},
		{in: "semver: >=1.0.0 <2 ", kind: Semver, str: "semver:>=1.0.0 <2"},
		{in: "semver:^1.0.0-0", kind: Semver, str: "semver:^1.0.0-0"},
		{in: "regex:^v[0-9]+$", kind: Regexp, str: "regex:^v[0-9]+$"},
		{in: "regexp:^v[0-9]+$", kind: Regexp, str: "regex:^v[0-9]+$"},
		{in: "regex:regexp:x", kind: Regexp, str: "regex:regexp:x"},
		// Flux v1 matched every tag on these; they are errors here.
		{in: "semver:>=1.x.y", wantErr: "bad semver constraint"},
		{in: "semver:~1.2 ||", wantErr: "bad semver constraint"},
		{in: "semver:not a version", wantErr: "bad semver constraint"},
		{in: "semver:", wantErr: "empty semver constraint"},
		{in: "regex:(", wantErr: "bad regular expression: error parsing regexp: missing closing )"},
		{in: "regexp:[a-", wantErr: "bad regular expression"},
		{in: "regex:", wantErr: "empty regular expression"},
		{in: "glob:", wantErr: "empty glob"},
		{in: "alphabetical:asc", kind: Alphabetical, str: "alphabetical:asc"},
		{in: "alphabetical:desc", kind: Alphabetical, str: "alphabetical:desc"},
		{in: "numerical:DESC", kind: Numerical, str: "numerical:desc"},
		{in: `numerical:asc;extract=$ts;filter=^main-[a-f0-9]+-(?P<ts>\d+)$`, kind: Numerical, str: `numerical:asc;extract=$ts;filter=^main-[a-f0-9]+-(?P<ts>\d+)$`},
		// The filter runs to the end: ';' and ':' inside it are its own.
		{in: `semver:>=1.0;filter=^v[0-9.]+(;|:)x$`, kind: Semver, str: `semver:>=1.0;filter=^v[0-9.]+(;|:)x$`},
		{in: `alphabetical:asc;extract=${1}Z;filter=^RELEASE\.(.*)Z$`, kind: Alphabetical, str: `alphabetical:asc;extract=${1}Z;filter=^RELEASE\.(.*)Z$`},
		{in: "alphabetical:", wantErr: "no order: write alphabetical:asc or alphabetical:desc"},
		{in: "numerical:;filter=x", wantErr: "no order"},
		{in: "numerical:up", wantErr: `bad numerical order "up": want asc or desc`},
		{in: "numerical:asc;extract=$ts", wantErr: "needs a filter pattern"},
		{in: `numerical:asc;extract=$nope;filter=^(?P<ts>\d+)$`, wantErr: `no group named "nope"`},
		{in: `numerical:asc;extract=$2;filter=^(\d+)$`, wantErr: "has no group 2"},
		{in: `numerical:asc;filter=^(?P<ts>\d+)$;extract=$ts`, wantErr: "filter= must be the last option"},
		{in: "numerical:asc;order=desc", wantErr: `unknown option "order=desc"`},
		{in: "numerical:asc;extract=$1;extract=$1;filter=(x)", wantErr: "given twice"},
		{in: "numerical:asc;filter=", wantErr: "empty filter="},
		{in: "numerical:asc;filter=(", wantErr: "bad filter pattern"},
		{in: "glob:1.*;filter=x", wantErr: "a glob takes no options"},
		{in: "semvar:~1.2", wantErr: `unknown kind "semvar" (want glob:, semver:, regex:, alphabetical: or numerical:)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want an error containing %q", tt.in, p, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
					t.Fatalf("Parse(%q) error %q, want it to name the pattern and contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if p.Kind() != tt.kind || p.String() != tt.str {
				t.Errorf("Parse(%q) = %s %q, want %s %q", tt.in, p.Kind(), p.String(), tt.kind, tt.str)
			}
		})
	}
}

func TestZeroPatternIsGlobAll(t *testing.T) {
	var p Pattern
	if p.String() != "glob:*" || !p.Allows("1.0") || p.Allows("latest") || !NeedsCreated(p) {
		t.Errorf("zero Pattern = %q, want glob:* allowing every tag but latest", p)
	}
	if All.String() != "glob:*" {
		t.Errorf("All = %q", All)
	}
}

func TestAllows(t *testing.T) {
	tests := []struct {
		pattern string
		allowed []string
		denied  []string
	}{
		{
			pattern: "glob:*",
			allowed: []string{"1.0", "master-abc", "v2", ""},
			denied:  []string{"latest", "LATEST", "Latest"},
		},
		{
			pattern: "glob:latest",
			allowed: []string{"latest"},
			denied:  []string{"LATEST", "latest2", "1.0"},
		},
		{
			pattern: "latest",
			allowed: []string{"latest"},
		},
		{
			pattern: "glob:lat*",
			allowed: []string{"lat", "later"},
			denied:  []string{"latest"},
		},
		{
			pattern: "master-*",
			allowed: []string{"master-", "master-abc123"},
			denied:  []string{"main-abc", "xmaster-abc", "master"},
		},
		{
			// Only * is special: ?, [ and . are literal.
			pattern: "v1.?-[a]",
			allowed: []string{"v1.?-[a]"},
			denied:  []string{"v1.2-a", "v1x?-[a]"},
		},
		{
			pattern: "*-alpine",
			allowed: []string{"1.2-alpine", "-alpine"},
			denied:  []string{"1.2-alpine3", "1.2"},
		},
		{
			pattern: "a*b*c",
			allowed: []string{"abc", "a-b-c", "abbc", "abcbc"},
			denied:  []string{"ab", "acb", "bac"},
		},
		{
			pattern: "a*a",
			allowed: []string{"aa", "aba"},
			denied:  []string{"a"},
		},
		{
			pattern: "semver:~1.2",
			allowed: []string{"1.2.0", "1.2.9", "v1.2.3", "1.2"},
			denied:  []string{"1.3.0", "1.2.4-rc.1", "latest", "main", "2.0.0"},
		},
		{
			pattern: "semver:>=1.2.0-0 <2",
			allowed: []string{"1.2.4-rc.1", "1.9.0", "1.3.0-beta", "2.0.0-rc.1"},
			denied:  []string{"2.0.0", "1.1.0", "1.1.9-rc.1"},
		},
		{
			pattern: "semver:*",
			allowed: []string{"0.0.1", "10.0.0"},
			denied:  []string{"1.0.0-rc1", "sha-abc"},
		},
		{
			// Unanchored, as in Flux v1.
			pattern: "regex:[0-9]+-stable",
			allowed: []string{"12-stable", "v12-stable-x"},
			denied:  []string{"stable", "latest"},
		},
		{
			pattern: "regexp:^v[0-9]+$",
			allowed: []string{"v1", "v22"},
			denied:  []string{"v1.0", "xv1"},
		},
		{
			pattern: "regex:.*",
			allowed: []string{"x"},
			denied:  []string{"latest"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p := MustParse(tt.pattern)
			for _, tag := range tt.allowed {
				if !p.Allows(tag) {
					t.Errorf("%s does not allow %q, want allowed", p, tag)
				}
			}
			for _, tag := range tt.denied {
				if p.Allows(tag) {
					t.Errorf("%s allows %q, want denied", p, tag)
				}
			}
		})
	}
}

func TestNeedsCreated(t *testing.T) {
	tests := []struct {
		pattern string
		want    bool
	}{
		{"", true},
		{"glob:*", true},
		{"master-*", true},
		{"glob:latest", false},
		{"1.2.3", false},
		{"semver:~1", false},
		{"regex:^v", true},
		{"regexp:.", true},
	}
	for _, tt := range tests {
		if got := NeedsCreated(MustParse(tt.pattern)); got != tt.want {
			t.Errorf("NeedsCreated(%q) = %v, want %v", tt.pattern, got, tt.want)
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse of an invalid pattern did not panic")
		}
	}()
	MustParse("regex:(")
}
