package imageref

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Ref
	}{
		{"nginx", Ref{Repo: "nginx"}},
		{"nginx:1.25", Ref{Repo: "nginx", Tag: "1.25"}},
		{"localhost:5000/app:v1", Ref{Repo: "localhost:5000/app", Tag: "v1"}},
		{"localhost:5000/app", Ref{Repo: "localhost:5000/app"}},
		{"ghcr.io/org/app:1.0@sha256:abc", Ref{Repo: "ghcr.io/org/app", Tag: "1.0", Digest: "sha256:abc"}},
		{"ghcr.io/org/app@sha256:abc", Ref{Repo: "ghcr.io/org/app", Digest: "sha256:abc"}},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
	for _, bad := range []string{"", ":1.0", "app@nodigest"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) did not fail", bad)
		}
	}
}
