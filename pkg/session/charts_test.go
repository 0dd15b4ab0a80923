package session

import "testing"

func TestSameRepository(t *testing.T) {
	for _, tc := range []struct {
		url, repo string
		want      bool
	}{
		{"https://github.com/org/config.git", "https://github.com/org/config", true},
		{"git@github.com:org/config.git", "https://GitHub.com/org/config/", true},
		{"ssh://git@github.com/org/config", "https://github.com/org/config.git", true},
		{"file:///srv/git/config", "/srv/git/config", true},
		{"/srv/git/config/", "/srv/git/config", true},
		{"https://github.com/org/other.git", "https://github.com/org/config.git", false},
		{"https://gitlab.com/org/config.git", "https://github.com/org/config.git", false},
		{"/srv/git/other", "/srv/git/config", false},
	} {
		if got := sameRepository(tc.url, tc.repo); got != tc.want {
			t.Errorf("sameRepository(%q, %q) = %v, want %v", tc.url, tc.repo, got, tc.want)
		}
	}
}
