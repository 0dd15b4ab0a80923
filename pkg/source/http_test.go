package source

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

const (
	httpUser  = "alice"
	httpToken = "s3cret-t0ken-value"
)

// gitHTTPServer serves the bare repositories under root with git's own
// http-backend, behind basic auth: alice or git with httpToken. It returns
// the handler, for a test server to serve.
func gitHTTPHandler(t *testing.T, root string) http.Handler {
	t.Helper()
	env := gitEnv(t)
	execPath := runGit(t, root, env, "--exec-path")
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Root: "/git",
		Env:  append(env, "GIT_PROJECT_ROOT="+root, "GIT_HTTP_EXPORT_ALL=1"),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || (user != httpUser && user != "git") || pass != httpToken {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

func TestRemoteHTTPBasicAuth(t *testing.T) {
	root := t.TempDir()
	remote := newRemote(t, root, "repo.git")
	want := remote.work.git("rev-parse", "main")
	srv := httptest.NewServer(gitHTTPHandler(t, root))
	defer srv.Close()
	url := srv.URL + "/git/repo.git"
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	t.Run("right credentials", func(t *testing.T) {
		cache := t.TempDir()
		for _, spec := range []Spec{
			{Repo: url, Auth: Auth{Username: httpUser, Password: httpToken}},
			{Repo: url, Auth: Auth{Password: httpToken}}, // user "git"
			{Repo: "http://" + httpUser + ":" + httpToken + "@" + hostPort + "/git/repo.git"},
			{Repo: "http://" + httpUser + ":wrong@" + hostPort + "/git/repo.git", Auth: Auth{Username: httpUser, Password: httpToken}}, // Auth wins
		} {
			spec.CacheDir = cache
			s, err := Open(ctx, spec)
			if err != nil {
				t.Fatalf("Open(%s): %v", Redact(spec.Repo), err)
			}
			if s.Revision != want || s.Repo != url || readFile(t, s, "app/deploy.yaml") != "replicas: 1\n" {
				t.Errorf("Open(%s) = %s of %s, want %s of %s", Redact(spec.Repo), s.Revision, s.Repo, want, url)
			}
		}
		// One clone for all, since credentials are not part of the key,
		// and no secret on disk.
		entries, _ := os.ReadDir(cache)
		if len(entries) != 2 {
			t.Errorf("cache holds %v, want one clone and its lock", entries)
		}
		err := filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), httpToken) {
				t.Errorf("%s holds the token", p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		const wrong = "not-the-t0ken"
		for _, spec := range []Spec{
			{Repo: url},
			{Repo: url, Auth: Auth{Username: httpUser, Password: wrong}},
			{Repo: "http://" + httpUser + ":" + wrong + "@" + hostPort + "/git/repo.git"},
			{Repo: "http://" + wrong + "@" + hostPort + "/git/repo.git"}, // a token as the user name
		} {
			spec.CacheDir = t.TempDir()
			_, err := Open(ctx, spec)
			if !errors.Is(err, transport.ErrAuthenticationRequired) {
				t.Fatalf("Open(%s) error = %v, want transport.ErrAuthenticationRequired", Redact(spec.Repo), err)
			}
			msg := err.Error()
			if !strings.Contains(msg, url) || !strings.Contains(msg, "check the URL and credentials") {
				t.Errorf("error %q: want the URL %s and a next step", msg, url)
			}
			if strings.Contains(msg, wrong) {
				t.Errorf("error %q holds the password", msg)
			}
			t.Log(msg)
			if entries, _ := os.ReadDir(spec.CacheDir); len(entries) > 1 {
				t.Errorf("a failed clone left %v in the cache", entries)
			}
		}
	})
}

func TestRemoteHTTPSCABundle(t *testing.T) {
	root := t.TempDir()
	remote := newRemote(t, root, "repo.git")
	srv := httptest.NewUnstartedServer(gitHTTPHandler(t, root))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	url := srv.URL + "/git/repo.git"
	auth := Auth{Password: httpToken}

	_, err := Open(context.Background(), Spec{Repo: url, Auth: auth, CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "certificate is not trusted") || !strings.Contains(err.Error(), url) {
		t.Fatalf("Open over HTTPS with an unknown CA: %v; want an error about the certificate naming %s", err, url)
	}
	t.Log(err)

	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for _, a := range []Auth{
		{Password: httpToken, CABundle: ca},
		{Password: httpToken, InsecureSkipTLSVerify: true},
	} {
		s, err := Open(context.Background(), Spec{Repo: url, Auth: a, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if want := remote.work.git("rev-parse", "main"); s.Revision != want {
			t.Errorf("revision %s, want %s", s.Revision, want)
		}
	}
}
