package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// remoteRepo is a bare repository served to Open, fed by pushes from a work
// tree.
type remoteRepo struct {
	work *gitRepo
	bare string
}

// newRemote makes a bare repository under root/name with one commit on main.
func newRemote(t *testing.T, root, name string) *remoteRepo {
	t.Helper()
	work := newRepo(t)
	work.commit("first", map[string]string{"app/deploy.yaml": "replicas: 1\n"})
	bare := filepath.Join(root, name)
	work.git("clone", "-q", "--bare", work.dir, bare)
	work.git("remote", "add", "origin", bare)
	return &remoteRepo{work: work, bare: bare}
}

func (r *remoteRepo) push(args ...string) {
	r.work.git(append([]string{"push", "-q", "origin"}, args...)...)
}

func packs(t *testing.T, clone string) []string {
	t.Helper()
	p, err := filepath.Glob(filepath.Join(clone, "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRemoteFileCloneThenFetch(t *testing.T) {
	remote := newRemote(t, t.TempDir(), "remote.git")
	remote.work.git("branch", "doomed")
	remote.push("doomed")
	url := "file://" + filepath.ToSlash(remote.bare)
	cache := t.TempDir()
	ctx := context.Background()

	s, err := Open(ctx, Spec{Repo: url, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if want := remote.work.git("rev-parse", "main"); s.Revision != want || s.Repo != url {
		t.Fatalf("first Open = %s of %s, want %s of %s", s.Revision, s.Repo, want, url)
	}
	clone := filepath.Join(cache, cacheKey(url))
	if len(filepath.Base(clone)) != 16 {
		t.Errorf("clone directory %s: want 16 hex digits", clone)
	}
	// Bare: no work tree.
	if _, err := os.Stat(filepath.Join(clone, "app")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cached clone has a work tree (app/: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(clone, "HEAD")); err != nil {
		t.Errorf("the cached clone is not a bare repository: %v", err)
	}
	marker := filepath.Join(clone, "marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	packsBefore := packs(t, clone)

	// The remote moves: a commit on main, a new branch and an annotated
	// tag, a deleted branch.
	second := remote.work.commit("second", map[string]string{"app/deploy.yaml": "replicas: 2\n"})
	remote.work.git("tag", "-a", "v2", "-m", "v2")
	remote.work.git("branch", "dev")
	remote.push("main", "dev", "v2", ":doomed")

	for _, tt := range []struct{ ref, wantRef string }{{"", ""}, {"main", "refs/heads/main"}, {"dev", "refs/heads/dev"}, {"v2", "refs/tags/v2"}, {second[:7], ""}} {
		s, err = Open(ctx, Spec{Repo: url, Ref: tt.ref, CacheDir: cache})
		if err != nil {
			t.Fatalf("Open(ref %q) after the push: %v", tt.ref, err)
		}
		if s.Revision != second || s.Ref != tt.wantRef || readFile(t, s, "app/deploy.yaml") != "replicas: 2\n" {
			t.Errorf("Open(ref %q) after the push = %s %q, want %s %q with replicas: 2", tt.ref, s.Revision, s.Ref, second, tt.wantRef)
		}
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the clone was replaced, not fetched into: %v", err)
	}
	packsAfter := packs(t, clone)
	if len(packsAfter) != len(packsBefore)+1 {
		t.Errorf("packs before the push %d, after %d: want one more, from one incremental fetch", len(packsBefore), len(packsAfter))
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 2 { // the clone and its lock file
		t.Errorf("cache holds %v, want the clone and its lock file only", entries)
	}

	// Deleted branches are pruned.
	_, err = Open(ctx, Spec{Repo: url, Ref: "doomed", CacheDir: cache})
	if !errors.Is(err, ErrRefNotFound) || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "branches: dev, main") {
		t.Errorf("Open(ref doomed) after deleting it on the remote: %v; want not found, naming %s and its branches", err, url)
	}
	t.Log(err)

	// The default branch follows the remote's HEAD.
	remote.work.git("--git-dir", remote.bare, "symbolic-ref", "HEAD", "refs/heads/dev")
	third := remote.work.commit("on dev", nil)
	remote.push("HEAD:dev")
	s, err = Open(ctx, Spec{Repo: url, CacheDir: cache})
	if err != nil || s.Revision != third {
		t.Errorf("Open(HEAD) once the remote's HEAD is dev = %v, %v; want %s", s, err, third)
	}
}

func TestRemoteConcurrentOpens(t *testing.T) {
	remote := newRemote(t, t.TempDir(), "r.git")
	url := "file://" + filepath.ToSlash(remote.bare)
	cache := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = Open(context.Background(), Spec{Repo: url, CacheDir: cache})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	entries, _ := os.ReadDir(cache)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{cacheKey(url), cacheKey(url) + ".lock"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("cache = %v, want %v: one clone, no leftovers", names, want)
	}
	if n := len(packs(t, filepath.Join(cache, cacheKey(url)))); n != 1 {
		t.Errorf("the clone has %d packs, want 1: it was fetched more than once", n)
	}
}

func TestRemoteCorruptCache(t *testing.T) {
	remote := newRemote(t, t.TempDir(), "r.git")
	url := "file://" + filepath.ToSlash(remote.bare)
	cache := t.TempDir()
	if _, err := Open(context.Background(), Spec{Repo: url, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(cache, cacheKey(url))
	for _, p := range packs(t, clone) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Open(context.Background(), Spec{Repo: url, CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "rm -rf \""+clone+"\"") {
		t.Fatalf("Open with a clone missing its objects: %v; want an error saying it is corrupt and how to remove it", err)
	}
	t.Log(err)

	// Not a repository at all.
	if err := os.RemoveAll(clone); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(clone, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Spec{Repo: url, CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), clone) {
		t.Fatalf("Open with an empty clone directory: %v; want an error saying it is corrupt", err)
	}

	// Removing it, as told, heals.
	if err := os.RemoveAll(clone); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Spec{Repo: url, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
}

func TestRemoteNotFound(t *testing.T) {
	url := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "missing.git"))
	_, err := Open(context.Background(), Spec{Repo: url, CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "check the URL") {
		t.Fatalf("Open of a missing remote: %v; want an error naming the URL and what to check", err)
	}
	t.Log(err)
}

// A clone being fetched by another process is waited for, up to the
// context's deadline.
func TestRemoteWaitsForTheLock(t *testing.T) {
	remote := newRemote(t, t.TempDir(), "r.git")
	url := "file://" + filepath.ToSlash(remote.bare)
	cache := t.TempDir()
	unlock, err := lockFile(context.Background(), filepath.Join(cache, cacheKey(url)+".lock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Open(ctx, Spec{Repo: url, CacheDir: cache})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "held by another kubectl-gitops process") {
		t.Fatalf("Open while the clone is locked: %v; want a deadline error naming the lock", err)
	}
	t.Log(err)

	done := make(chan error)
	go func() {
		_, err := Open(context.Background(), Spec{Repo: url, CacheDir: cache})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("Open once the lock is released: %v", err)
	}
}
