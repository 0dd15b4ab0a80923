package source

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUpdateReviewHTTP pushes to a review branch of a bare remote served
// by git http-backend: the branch is created from main, replaced (rebased
// onto main) by the next run after main moved, left alone when it already
// holds the change, and refused once someone else pushed to it. main is
// never touched.
func TestUpdateReviewHTTP(t *testing.T) {
	isolateGit(t)
	root := t.TempDir()
	remote := newRemote(t, root, "repo.git")
	bare := &gitRepo{t: t, dir: remote.bare, env: remote.work.env}
	bare.git("config", "http.receivepack", "true")
	srv := httptest.NewServer(gitHTTPHandler(t, root))
	defer srv.Close()
	spec := Spec{Repo: srv.URL + "/git/repo.git", Auth: Auth{Username: httpUser, Password: httpToken}, CacheDir: t.TempDir()}
	ctx := context.Background()
	repo := openRepo(t, spec)

	main0 := bare.git("rev-parse", "main")
	res, err := repo.UpdateReview(ctx, "", "images/update", testAuthor, replicas("2"))
	if err != nil {
		t.Fatal(err)
	}
	if got := bare.git("rev-parse", "images/update"); !res.Pushed || res.Revision != got || res.Branch != "images/update" || res.Parent != main0 {
		t.Fatalf("UpdateReview = %+v; want %s pushed to images/update on %s", res, got, main0)
	}
	if got := bare.git("rev-parse", "main"); got != main0 {
		t.Fatalf("main moved to %s", got)
	}
	if got := bare.git("show", "images/update:app/deploy.yaml"); got != "replicas: 2" {
		t.Fatalf("review branch app/deploy.yaml = %q", got)
	}
	if msg := bare.git("log", "-1", "--format=%B", "images/update"); !strings.HasSuffix(msg, "\n\n"+ReviewTrailer+": main") {
		t.Fatalf("message %q has no trailer", msg)
	}
	if p := bare.git("rev-parse", "images/update^"); p != main0 {
		t.Fatalf("review commit's parent %s, want main %s", p, main0)
	}

	// The same change again: nothing is pushed.
	first := res.Revision
	res, err = repo.UpdateReview(ctx, "", "images/update", testAuthor, replicas("2"))
	if err != nil || res.Revision != first || bare.git("rev-parse", "images/update") != first {
		t.Fatalf("same change: %+v, %v; want the branch left at %s", res, err, first)
	}

	// main moves: the branch is made again on the new head.
	other := newOtherClient(t, remote)
	main1 := other.pushCommit()
	res, err = repo.UpdateReview(ctx, "", "images/update", testAuthor, replicas("3"))
	if err != nil {
		t.Fatal(err)
	}
	if p := bare.git("rev-parse", "images/update^"); p != main1 || res.Revision != bare.git("rev-parse", "images/update") {
		t.Fatalf("rebased review commit's parent %s, want main %s (%+v)", p, main1, res)
	}
	if got := bare.git("show", "images/update:other.yaml"); got != "x" {
		t.Fatalf("the review branch lost main's change: other.yaml = %q", got)
	}
	if got := bare.git("rev-parse", "main"); got != main1 {
		t.Fatalf("main moved to %s", got)
	}

	// Someone pushes to the review branch: it is no longer the plugin's.
	other.git("fetch", "-q", "origin")
	other.git("checkout", "-q", "-b", "review", "origin/images/update")
	other.commit("a reviewer's fix", map[string]string{"app/fix.yaml": "fixed: true\n"})
	other.git("push", "-q", "origin", "HEAD:images/update")
	theirs := bare.git("rev-parse", "images/update")
	_, err = repo.UpdateReview(ctx, "", "images/update", testAuthor, replicas("4"))
	if err == nil || !strings.Contains(err.Error(), "did not make it alone") || !strings.Contains(err.Error(), "nothing was pushed") {
		t.Fatalf("a branch with another's commit: %v; want a refusal", err)
	}
	if got := bare.git("rev-parse", "images/update"); got != theirs {
		t.Fatalf("the reviewer's branch was overwritten: %s, want %s", got, theirs)
	}

	// A branch the plugin never made is refused too.
	other.git("push", "-q", "origin", "origin/main:refs/heads/feature")
	if _, err := repo.UpdateReview(ctx, "", "feature", testAuthor, replicas("5")); err == nil || !strings.Contains(err.Error(), "trailer") {
		t.Fatalf("a foreign branch: %v; want a refusal naming the trailer", err)
	}
	// The checkout branch is never the review branch.
	if _, err := repo.UpdateReview(ctx, "main", "main", testAuthor, replicas("6")); err == nil {
		t.Fatal("review branch main on main: want an error")
	}
	if got := bare.git("rev-parse", "main"); got != main1 {
		t.Fatalf("main moved to %s", got)
	}
	bare.git("fsck", "--no-progress")
}
