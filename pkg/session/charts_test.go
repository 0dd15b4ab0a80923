package session

import (
	"os"
	"path/filepath"
	"testing"
)

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

func TestHelmRepositoryCredentials(t *testing.T) {
	p := filepath.Join(t.TempDir(), "repositories.yaml")
	if err := os.WriteFile(p, []byte(`apiVersion: ""
repositories:
- name: private
  url: https://charts.example.com/private/
  username: reader
  password: s3cret
- name: public
  url: https://charts.example.com/public
`), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := helmRepositoryCredentials(p)
	if u, pw, ok := creds("https://charts.example.com/private"); !ok || u != "reader" || pw != "s3cret" {
		t.Errorf("private: %q %q %v", u, pw, ok)
	}
	for _, url := range []string{"https://charts.example.com/public", "https://charts.example.com", "https://evil.example.com/private"} {
		if _, _, ok := creds(url); ok {
			t.Errorf("%s has credentials", url)
		}
	}
	if _, _, ok := helmRepositoryCredentials(filepath.Join(t.TempDir(), "missing.yaml"))("https://charts.example.com/private"); ok {
		t.Errorf("a missing file gives credentials")
	}
}
