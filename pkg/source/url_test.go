package source

import (
	"context"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://github.com/org/repo.git", "https://github.com/org/repo.git"},
		{"https://user:pass@github.com/org/repo.git", "https://github.com/org/repo.git"},
		{"https://ghp_TOKEN@github.com/org/repo.git", "https://github.com/org/repo.git"},
		{"https://user:p%40ss%2Fw@host:8443/org/repo.git?x=1#frag", "https://host:8443/org/repo.git?x=1#frag"},
		{"http://u:p@127.0.0.1:8080/git/r.git", "http://127.0.0.1:8080/git/r.git"},
		{"HTTPS://u:p@Host/r", "HTTPS://Host/r"},
		{"ssh://git@github.com/org/repo.git", "ssh://git@github.com/org/repo.git"},
		{"ssh://git:secret@github.com:2222/org/repo.git", "ssh://git@github.com:2222/org/repo.git"},
		{"git+ssh://git:secret@host/r", "git+ssh://git@host/r"},
		{"git@github.com:org/repo.git", "git@github.com:org/repo.git"},
		{"git:secret@github.com:org/repo.git", "git@github.com:org/repo.git"},
		{"github.com:org/repo.git", "github.com:org/repo.git"},
		{"file:///srv/git/repo.git", "file:///srv/git/repo.git"},
		{"file://u:p@/srv/git/repo.git", "file:///srv/git/repo.git"},
		{"/home/me/repo", "/home/me/repo"},
		{"./repo@v1", "./repo@v1"},
		{"", ""},
		// Unescaped special characters in a password: masked, not guessed.
		{"https://user:pa/ss@host/repo", "https://REDACTED@host/repo"},
		{"https://user:12/34@host/repo", "https://REDACTED@host/repo"},
		{"https://user:pa#ss@host/repo", "https://REDACTED@host/repo"},
		{"https://user:pa ss@host/repo", "https://REDACTED@host/repo"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A URL whose credentials cannot be told apart is refused, without them in
// the error.
func TestOpenRefusesAmbiguousCredentials(t *testing.T) {
	for _, repo := range []string{"https://user:pa/ss@host/repo", "https://user:12/34@host/repo"} {
		_, err := Open(context.Background(), Spec{Repo: repo, CacheDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "percent-encode") {
			t.Errorf("Open(%s) error = %v, want a request to percent-encode", Redact(repo), err)
		}
		if err != nil && (strings.Contains(err.Error(), "pa/ss") || strings.Contains(err.Error(), "12/34")) {
			t.Errorf("error %q holds the password", err)
		}
	}
}

func TestIsRemote(t *testing.T) {
	for repo, want := range map[string]bool{
		"https://h/r":       true,
		"file:///srv/r.git": true,
		"git@h:org/r.git":   true,
		"h:r":               true,
		"/abs/path":         false,
		"rel/path":          false,
		"./a:b":             false,
		"repo":              false,
		"../x/y":            false,
		"a/b:c":             false,
	} {
		if got := isRemote(repo); got != want {
			t.Errorf("isRemote(%q) = %v, want %v", repo, got, want)
		}
	}
}
