package source

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// otherClient is a second clone of remote that pushes to it behind
// Update's back.
type otherClient struct {
	*gitRepo
	n int
}

func newOtherClient(t *testing.T, remote *remoteRepo) *otherClient {
	t.Helper()
	c := &otherClient{gitRepo: &gitRepo{t: t, dir: t.TempDir(), env: gitEnv(t)}}
	c.git("clone", "-q", remote.bare, ".")
	return c
}

// pushCommit commits a change of other.yaml on the remote's main and
// pushes it, returning the new commit.
func (c *otherClient) pushCommit() string {
	c.t.Helper()
	c.n++
	c.git("fetch", "-q", "origin")
	c.git("reset", "-q", "--hard", "origin/main")
	sha := c.commit("theirs", map[string]string{"other.yaml": strings.Repeat("x", c.n) + "\n"})
	c.git("push", "-q", "origin", "HEAD:main")
	return sha
}

// replicas is an edit that sets the replicas of app/deploy.yaml.
func replicas(n string) EditFunc {
	return setFile("app/deploy.yaml", "replicas: "+n+"\n", "Scale to "+n)
}

func TestUpdateRemoteFile(t *testing.T) {
	isolateGit(t)
	remote := newRemote(t, t.TempDir(), "remote.git")
	bare := &gitRepo{t: t, dir: remote.bare, env: remote.work.env}
	url := "file://" + filepath.ToSlash(remote.bare)
	cache := t.TempDir()
	clone := &gitRepo{t: t, dir: filepath.Join(cache, cacheKey(url)), env: remote.work.env}
	ctx := context.Background()

	repo := openRepo(t, Spec{Repo: url, CacheDir: cache})
	first := bare.git("rev-parse", "main")
	res, err := repo.Update(ctx, "", testAuthor, replicas("2"))
	if err != nil {
		t.Fatal(err)
	}
	if head := bare.git("rev-parse", "main"); res.Revision != head || res.Parent != first || !res.Pushed || res.Attempts != 1 || res.Branch != "main" {
		t.Errorf("result = %+v; want %s pushed on main on %s in 1 attempt", res, head, first)
	}
	if got := bare.git("log", "-1", "--format=%an <%ae>|%P|%s", "main"); got != "Kube Bot <bot@example.com>|"+first+"|Scale to 2" {
		t.Errorf("remote commit = %q", got)
	}
	if got := bare.git("show", "main:app/deploy.yaml"); got != "replicas: 2" {
		t.Errorf("remote app/deploy.yaml = %q", got)
	}
	if got := clone.git("rev-parse", "refs/heads/main"); got != res.Revision {
		t.Errorf("the cached clone's main = %s, want the pushed %s", got, res.Revision)
	}
	if s, err := repo.Snapshot("main"); err != nil || s.Revision != res.Revision || readFile(t, s, "app/deploy.yaml") != "replicas: 2\n" {
		t.Errorf("Snapshot(main) after the push = %+v, %v; want %s", s, err, res.Revision)
	}
	bare.git("fsck", "--no-progress")

	// Another client pushes while the edit runs: the push is refused, the
	// clone fetched, and the edit redone on the new head.
	other := newOtherClient(t, remote)
	var seen []string
	var theirs string
	res2, err := repo.Update(ctx, "main", testAuthor, func(s *Snapshot) (*Change, error) {
		seen = append(seen, s.Revision)
		if len(seen) == 1 {
			theirs = other.pushCommit()
		} else if got := readFile(t, s, "other.yaml"); got != "x\n" {
			t.Errorf("the second edit sees other.yaml = %q, want the other client's", got)
		}
		return replicas("3")(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Attempts != 2 || res2.Parent != theirs || len(seen) != 2 || seen[0] != res.Revision || seen[1] != theirs {
		t.Errorf("result = %+v, edits saw %v; want 2 attempts, on %s then %s", res2, seen, res.Revision, theirs)
	}
	if got := bare.git("log", "--format=%H %s", "main"); got != res2.Revision+" Scale to 3\n"+theirs+" theirs\n"+res.Revision+" Scale to 2\n"+first+" first" {
		t.Errorf("remote history:\n%s\nwant ours on theirs on the first push: nothing lost", got)
	}
	if got := clone.git("rev-parse", "refs/heads/main"); got != res2.Revision {
		t.Errorf("the cached clone's main = %s, want %s", got, res2.Revision)
	}

	// Nothing to change: nothing pushed.
	res3, err := repo.Update(ctx, "", testAuthor, replicas("3"))
	if err != nil || res3.Revision != "" || res3.Pushed || res3.Parent != res2.Revision {
		t.Errorf("Update with nothing to change = %+v, %v", res3, err)
	}
	if got := bare.git("rev-parse", "main"); got != res2.Revision {
		t.Errorf("remote main = %s, want %s", got, res2.Revision)
	}

	// Tags and shas are not branches.
	bare.git("tag", "v1", "main")
	for _, ref := range []string{"v1", res2.Revision} {
		if _, err := repo.Update(ctx, ref, testAuthor, replicas("4")); err == nil || !strings.Contains(err.Error(), "not a branch: a change is committed to a branch: pass --ref <branch>") {
			t.Errorf("Update(ref %s) = %v; want a refusal", ref, err)
		}
	}
}

// A branch that keeps moving is given up after 3 attempts, and the other
// clients' commits stay.
func TestUpdateRemoteGivesUp(t *testing.T) {
	isolateGit(t)
	remote := newRemote(t, t.TempDir(), "remote.git")
	url := "file://" + filepath.ToSlash(remote.bare)
	other := newOtherClient(t, remote)
	repo := openRepo(t, Spec{Repo: url, CacheDir: t.TempDir()})
	var last string
	calls := 0
	_, err := repo.Update(context.Background(), "", testAuthor, func(s *Snapshot) (*Change, error) {
		calls++
		last = other.pushCommit()
		return replicas("2")(s)
	})
	if err == nil || !strings.Contains(err.Error(), "the branch moved 3 times") || calls != maxPushAttempts {
		t.Fatalf("Update = %v after %d edits; want it to give up after %d", err, calls, maxPushAttempts)
	}
	t.Log(err)
	if got := remote.work.git("--git-dir", remote.bare, "rev-parse", "main"); got != last {
		t.Errorf("remote main = %s, want the other client's %s", got, last)
	}
}

// A push the remote refuses for another reason than a moved branch is not
// retried.
func TestUpdateRemoteRefused(t *testing.T) {
	isolateGit(t)
	remote := newRemote(t, t.TempDir(), "remote.git")
	hook := filepath.Join(remote.bare, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	head := remote.work.git("rev-parse", "main")
	url := "file://" + filepath.ToSlash(remote.bare)
	repo := openRepo(t, Spec{Repo: url, CacheDir: t.TempDir()})
	calls := 0
	_, err := repo.Update(context.Background(), "", testAuthor, func(s *Snapshot) (*Change, error) {
		calls++
		return replicas("2")(s)
	})
	if err == nil || !strings.Contains(err.Error(), "to main of "+url+" was refused") || !strings.Contains(err.Error(), "pre-receive hook declined") || calls != 1 {
		t.Fatalf("Update = %v after %d edits; want one refusal naming the hook", err, calls)
	}
	t.Log(err)
	if got := remote.work.git("--git-dir", remote.bare, "rev-parse", "main"); got != head {
		t.Errorf("remote main moved to %s", got)
	}
	if got := remote.work.git("--git-dir", repo.dir, "rev-parse", "main"); got != head {
		t.Errorf("the cached clone's main moved to %s", got)
	}
}

func TestUpdateRemoteHTTP(t *testing.T) {
	isolateGit(t)
	root := t.TempDir()
	remote := newRemote(t, root, "repo.git")
	bare := &gitRepo{t: t, dir: remote.bare, env: remote.work.env}
	// http-backend takes pushes from authenticated users only; the test
	// server's CGI does not say who that is.
	bare.git("config", "http.receivepack", "true")

	// reader may fetch and not push: the server forwards its requests as
	// alice's, but for pushes.
	const readerPassword = "r3ader-passw0rd"
	backend := gitHTTPHandler(t, root)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, _ := r.BasicAuth(); user == "reader" && pass == readerPassword {
			if strings.Contains(r.URL.Path, "git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
				http.Error(w, "reader may not push", http.StatusForbidden)
				return
			}
			r.SetBasicAuth(httpUser, httpToken)
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/git/repo.git"
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	for i, spec := range []Spec{
		{Repo: url, Auth: Auth{Username: httpUser, Password: httpToken}},
		{Repo: "http://" + httpUser + ":" + httpToken + "@" + hostPort + "/git/repo.git"},
	} {
		spec.CacheDir = t.TempDir()
		repo := openRepo(t, spec)
		parent := bare.git("rev-parse", "main")
		n := strconv.Itoa(i + 2)
		res, err := repo.Update(ctx, "", testAuthor, replicas(n))
		if err != nil {
			t.Fatalf("Update(%s): %v", Redact(spec.Repo), err)
		}
		if got := bare.git("rev-parse", "main"); !res.Pushed || res.Revision != got || res.Parent != parent {
			t.Errorf("Update(%s) = %+v; want %s pushed on %s", Redact(spec.Repo), res, got, parent)
		}
		if got := bare.git("show", "main:app/deploy.yaml"); got != "replicas: "+n {
			t.Errorf("remote app/deploy.yaml = %q", got)
		}
	}
	bare.git("fsck", "--no-progress")

	// Credentials that may read and not push: the error says so, and
	// holds no secret.
	head := bare.git("rev-parse", "main")
	for _, spec := range []Spec{
		{Repo: url, Auth: Auth{Username: "reader", Password: readerPassword}},
		{Repo: "http://reader:" + readerPassword + "@" + hostPort + "/git/repo.git"},
	} {
		spec.CacheDir = t.TempDir()
		repo := openRepo(t, spec)
		_, err := repo.Update(ctx, "", testAuthor, replicas("9"))
		if !errors.Is(err, transport.ErrAuthorizationFailed) || !strings.Contains(err.Error(), "pushing to "+url) || !strings.Contains(err.Error(), "may push to the repository") {
			t.Fatalf("Update(%s) with read-only credentials = %v; want an authorization error naming %s", Redact(spec.Repo), err, url)
		}
		if strings.Contains(err.Error(), readerPassword) {
			t.Errorf("error %q holds the password", err)
		}
		t.Log(err)
	}
	if got := bare.git("rev-parse", "main"); got != head {
		t.Errorf("remote main moved to %s", got)
	}
}

func TestUpdateRemoteSSH(t *testing.T) {
	isolateGit(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("SSH_KNOWN_HOSTS", "")
	remote := newRemote(t, t.TempDir(), "r.git")
	keys := t.TempDir()
	clientKey := filepath.Join(keys, "client")
	srv := startSSHServer(t, remote.work.env, sshKey(t, clientKey, ""))
	known := filepath.Join(keys, "known_hosts")
	writeKnownHosts(t, known, srv.addr, srv.hostKey)
	url := "ssh://git@" + srv.addr + filepath.ToSlash(remote.bare)

	repo := openRepo(t, Spec{Repo: url, Auth: Auth{SSHKeyFile: clientKey, KnownHostsFile: known}, CacheDir: t.TempDir()})
	res, err := repo.Update(context.Background(), "", testAuthor, replicas("2"))
	if err != nil {
		t.Fatal(err)
	}
	if got := remote.work.git("--git-dir", remote.bare, "rev-parse", "main"); !res.Pushed || res.Revision != got {
		t.Errorf("result = %+v; want %s pushed", res, got)
	}
}
