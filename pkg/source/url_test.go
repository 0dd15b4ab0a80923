package source

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
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
		// "#", "?", ":" and "@" end no password: the user information
		// ends at the last "@" before the first "/".
		{"https://user:pa#ss@host/repo", "https://host/repo"},
		{"https://user:pa ss@host/repo", "https://host/repo"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// redactCase is a repository address with the secret it holds ("" when
// none), what Redact prints, and what parseRemote reads from it (want
// "error" when it must refuse the address).
type redactCase struct {
	in, secret, want    string
	user, password      string
	host                string
	port                int
	gitURL, parseResult string
}

// The corpus of addresses whose passwords or tokens hold the characters that
// end parts of a URL. For each: Redact keeps no part of the secret, and
// parseRemote either reads the user, password, host and port as the person
// who typed it meant them, or refuses without the secret in the error.
var redactCorpus = []redactCase{
	// The report: net/url reads "alice:2024" as host and port, "#Winter@..."
	// as a fragment, and so printed the URL whole.
	{in: "https://alice:2024#Winter@host/org/repo.git", secret: "2024#Winter", want: "https://host/org/repo.git", user: "alice", password: "2024#Winter", host: "host"},
	{in: "https://alice:2024?Winter@host/org/repo.git", secret: "2024?Winter", want: "https://host/org/repo.git", user: "alice", password: "2024?Winter", host: "host"},
	{in: "https://alice:20:24@host:8443/org/repo.git", secret: "20:24", want: "https://host:8443/org/repo.git", user: "alice", password: "20:24", host: "host", port: 8443},
	{in: "https://alice:p@ss@host/r.git", secret: "p@ss", want: "https://host/r.git", user: "alice", password: "p@ss", host: "host"},
	{in: "https://alice:p%40ss%2F%23%3F%3A@host/r.git", secret: "p%40ss", want: "https://host/r.git", user: "alice", password: "p@ss/#?:", host: "host"},
	{in: "https://alice:a#b?c:d@e@127.0.0.1:8080/r.git?ref=main#top", secret: "a#b?c:d@e", want: "https://127.0.0.1:8080/r.git?ref=main#top", user: "alice", password: "a#b?c:d@e", host: "127.0.0.1", port: 8080},
	{in: "https://ghp_t0k#en@github.com/org/repo.git", secret: "ghp_t0k#en", want: "https://github.com/org/repo.git", user: "ghp_t0k#en", host: "github.com"},
	{in: "https://t0k?en@github.com/org/repo.git", secret: "t0k?en", want: "https://github.com/org/repo.git", user: "t0k?en", host: "github.com"},
	{in: "https://t0k@en@github.com/org/repo.git", secret: "t0k@en", want: "https://github.com/org/repo.git", user: "t0k@en", host: "github.com"},
	{in: "https://:t0ken@host/r", secret: "t0ken", want: "https://host/r", password: "t0ken", host: "host"},
	{in: "https://me@example.com:s3cr#t@host/r", secret: "s3cr#t", want: "https://host/r", user: "me@example.com", password: "s3cr#t", host: "host"},
	{in: "http://u:p#w@[::1]:8080/r.git", secret: "p#w", want: "http://[::1]:8080/r.git", user: "u", password: "p#w", host: "::1", port: 8080},
	// A "/" in a password cannot be told from the start of the path:
	// masked, and refused.
	{in: "https://alice:2024/Winter@host/r", secret: "2024/Winter", want: "https://REDACTED@host/r", parseResult: "error"},
	{in: "https://alice:20#24/Winter@host/r", secret: "20#24/Winter", want: "https://REDACTED@host/r", parseResult: "error"},
	{in: "https://t0k/en@host/r", secret: "t0k/en", want: "https://REDACTED@host/r", parseResult: "error"},
	{in: "https://me@example.com:pa/ss@host/r", secret: "pa/ss", want: "https://REDACTED@host/r", parseResult: "error"},
	// So is an "@" in the path of a URL with a host, which would hide one.
	{in: "https://host/org/repo@v1", want: "https://REDACTED@v1", parseResult: "error"},
	// A bad escape in a password: printed without it, refused.
	{in: "https://alice:50%off@host/r", secret: "50%off", want: "https://host/r", parseResult: "error"},
	// ssh keeps the user name, which is part of the address.
	{in: "ssh://git:pa#ss@host:2222/org/r.git", secret: "pa#ss", want: "ssh://git@host:2222/org/r.git", user: "git", password: "pa#ss", host: "host", port: 2222, gitURL: "ssh://git@host:2222/org/r.git"},
	{in: "ssh://me@corp:p?w@host/r", secret: "p?w", want: "ssh://me%40corp@host/r", user: "me@corp", password: "p?w", host: "host"},
	{in: "git+ssh://git:p:w@host/r", secret: "p:w", want: "git+ssh://git@host/r", user: "git", password: "p:w", host: "host", gitURL: "ssh://git@host/r"},
	{in: "ssh://git@host/~alice/r.git", want: "ssh://git@host/~alice/r.git", user: "git", host: "host"},
	// scp-like: git splits at the first ":"; a password puts an "@" after it.
	{in: "git@github.com:org/repo.git", want: "git@github.com:org/repo.git", user: "git", host: "github.com"},
	{in: "git:s3cr#t@github.com:org/repo.git", secret: "s3cr#t", want: "git@github.com:org/repo.git", user: "git", host: "github.com"},
	{in: "git:p@ss:w@github.com:org/repo.git", secret: "p@ss:w", want: "git@github.com:org/repo.git", user: "git", host: "github.com"},
	{in: "git:pa/ss@github.com:org/repo.git", secret: "pa/ss", want: "git@github.com:org/repo.git", user: "git", host: "github.com"},
	{in: "git@host:org/repo@v1.git", want: "git@host:org/repo@v1.git", user: "git", host: "host"},
	{in: "host:org/repo.git", want: "host:org/repo.git", host: "host"},
	// No user information.
	{in: "file:///srv/git/p@th/repo.git", want: "file:///srv/git/p@th/repo.git"},
	{in: "git://host:9418/org/repo.git", want: "git://host:9418/org/repo.git", host: "host", port: 9418},
	{in: "https://host:8443/org/repo.git?x=1#y", want: "https://host:8443/org/repo.git?x=1#y", host: "host", port: 8443},
}

func TestRedactCorpus(t *testing.T) {
	for _, tt := range redactCorpus {
		got := Redact(tt.in)
		if got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.secret != "" && strings.Contains(got, tt.secret) {
			t.Errorf("Redact(%q) = %q holds the secret", tt.in, got)
		}
		r, err := parseRemote(tt.in)
		if tt.parseResult == "error" {
			if err == nil {
				t.Errorf("parseRemote(%q) = %+v, want an error", tt.in, r)
			} else if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("parseRemote(%q) error %q holds the secret", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRemote(%q): %v", tt.in, err)
			continue
		}
		gitURL := tt.gitURL
		if gitURL == "" {
			gitURL = tt.want
		}
		if r.redacted != tt.want || r.gitURL != gitURL || r.user != tt.user || r.password != tt.password || r.host != tt.host || r.port != tt.port {
			t.Errorf("parseRemote(%q) = {redacted %q, gitURL %q, user %q, password %q, host %q, port %d}, want {%q, %q, %q, %q, %q, %d}",
				tt.in, r.redacted, r.gitURL, r.user, r.password, r.host, r.port, tt.want, gitURL, tt.user, tt.password, tt.host, tt.port)
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

// A password with "#", "?", ":" and "@" unescaped in the URL reaches the
// server whole, as the password, and shows in nothing printed: not in the
// snapshot's repository, not in the errors go-git's failures turn into.
func TestRemoteHTTPPasswordWithURLCharacters(t *testing.T) {
	const password = "20#24?Win:t@r"
	root := t.TempDir()
	remote := newRemote(t, root, "repo.git")
	want := remote.work.git("rev-parse", "main")
	backend := gitHTTPHandler(t, root)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		mu.Lock()
		seen = append(seen, user+":"+pass)
		mu.Unlock()
		if user == httpUser && pass == password {
			r.SetBasicAuth(httpUser, httpToken) // what the backend wants
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	url := srv.URL + "/git/repo.git"
	ctx := context.Background()

	s, err := Open(ctx, Spec{Repo: "http://" + httpUser + ":" + password + "@" + hostPort + "/git/repo.git", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v (the server saw %q)", err, seen)
	}
	if s.Revision != want || s.Repo != url {
		t.Errorf("Open = %s of %s, want %s of %s", s.Revision, s.Repo, want, url)
	}
	if len(seen) == 0 || seen[len(seen)-1] != httpUser+":"+password {
		t.Errorf("the server saw %q, want %s with the whole password", seen, httpUser)
	}

	// Wrong passwords of the same shape: go-git's error is printed, and
	// holds neither the password nor a part of it.
	for i, wrong := range []string{"99#wr0ng", "99?wr0ng", "99:wr0ng@x", "w#r0ng?t:k@n"} {
		_, err := Open(ctx, Spec{Repo: "http://" + httpUser + ":" + wrong + "@" + hostPort + "/git/repo.git", CacheDir: t.TempDir()})
		if !errors.Is(err, transport.ErrAuthenticationRequired) {
			t.Fatalf("Open with wrong password %d: error = %v, want transport.ErrAuthenticationRequired", i, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, url) {
			t.Errorf("error %q does not name %s", msg, url)
		}
		if strings.Contains(msg, "wr0ng") || strings.Contains(msg, "r0ng") {
			t.Errorf("error %q holds the password", msg)
		}
	}
}
