package session

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// registryWith starts an in-process registry holding repo with the tags,
// each an hour newer than the last; onTags, when set, runs once, at the
// first listing of tags. It returns the registry's host.
func registryWith(t *testing.T, repo string, onTags func(), tags ...string) string {
	t.Helper()
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if onTags != nil && strings.HasSuffix(r.URL.Path, "/tags/list") {
			once.Do(onTags)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tag := range tags {
		img, err := random.Image(32, 1)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.CreatedAt(img, v1.Time{Time: base.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		ref, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

func automated(name, image string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  annotations:\n    kubectl-gitops.dev/automated: \"true\"\n" +
		"spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: " + image + "\n"
}

func TestScanImagesListsTheCommitsWorkloadsWithTheirNewestTags(t *testing.T) {
	factory := isolate(t)
	host := registryWith(t, "app", nil, "1.0.0", "1.1.0")
	dir, _ := repo(t, map[string]string{"deploy/web.yaml": automated("web", host+"/app:1.0.0")})
	var warnings strings.Builder
	opts := Options{Source: applyset.Source{Repo: dir, Path: "deploy"}, Named: sourcetrust.Named{Repo: true, Path: true}, Warnings: &warnings}
	scan, err := newSession(t, factory, opts, nil).ScanImages(context.Background(), ImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if scan.Err != nil || len(scan.Containers) != 1 {
		t.Fatalf("scan %+v, %v; want one container", scan.Containers, scan.Err)
	}
	c := scan.Containers[0]
	if c.Workload.String() != "demo:deployment/web" || len(c.Tags) != 2 || c.Tags[0].Name != "1.1.0" {
		t.Errorf("container %+v; want web in the kubeconfig's namespace with both tags, newest first", c)
	}
	// The kubeconfig's server is not there: said once, and no failure.
	if !strings.Contains(warnings.String(), "not showing running images") {
		t.Errorf("warnings %q; want a note that the running images are not shown", warnings.String())
	}

	_, err = newSession(t, factory, opts, nil).ScanImages(context.Background(), ImagesRequest{Workloads: []workload.ID{{Namespace: "demo", Kind: "deployment", Name: "api"}}})
	if err == nil || !strings.Contains(err.Error(), "demo:deployment/api") {
		t.Errorf("scan of an unknown workload: %v; want an error naming it", err)
	}
}

// The branch moves between the scan and the commit: the edit is made again
// on the new head, with a scan of what that head holds.
func TestUpdateImagesScansAgainWhenTheBranchMoved(t *testing.T) {
	factory := isolate(t)
	work, _ := repo(t, map[string]string{"web.yaml": automated("web", "HOST/app:1.0.0")})
	bare := filepath.Join(t.TempDir(), "remote.git")
	git(t, t.TempDir(), "clone", "-q", "--bare", work, bare)
	var concurrent string
	host := registryWith(t, "app", func() {
		// Someone else pushes a second workload while the registry is asked.
		concurrent = commit(t, work, "add api", map[string]string{"api.yaml": automated("api", hostOf(t, work)+"/app:1.0.0")})
		git(t, work, "push", "-q", bare, "main")
	}, "1.0.0", "1.1.0")
	commit(t, work, "point at the registry", map[string]string{"web.yaml": automated("web", host+"/app:1.0.0"), "host": host})
	git(t, work, "push", "-q", bare, "main")

	opts := Options{Source: applyset.Source{Repo: "file://" + bare}, Named: sourcetrust.Named{Repo: true}}
	up, err := newSession(t, factory, opts, nil).UpdateImages(context.Background(), ImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if concurrent == "" || up.Commit.Parent != concurrent || !up.Commit.Pushed {
		t.Fatalf("commit %+v; want it pushed on top of the concurrent commit %s", up.Commit, concurrent)
	}
	var moved []string
	for _, c := range up.Changes {
		moved = append(moved, c.Workload.Name+" "+c.To)
	}
	want := []string{"api " + host + "/app:1.1.0", "web " + host + "/app:1.1.0"}
	if strings.Join(moved, ", ") != strings.Join(want, ", ") {
		t.Errorf("changes %q; want %q: the workload of the concurrent commit is scanned too", moved, want)
	}
	git(t, work, "pull", "-q", bare, "main")
	for _, f := range []string{"web.yaml", "api.yaml"} {
		b, err := os.ReadFile(filepath.Join(work, f))
		if err != nil || !strings.Contains(string(b), host+"/app:1.1.0") {
			t.Errorf("%s after the update: %q, %v", f, b, err)
		}
	}
}

// hostOf reads the registry's host that the repository at dir records.
func hostOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "host"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpdateImagesCommitsNothingWhenAnImageCannotBeScanned(t *testing.T) {
	factory := isolate(t)
	dir, rev := repo(t, map[string]string{"web.yaml": automated("web", "127.0.0.1:1/app:1.0.0")})
	opts := Options{Source: applyset.Source{Repo: dir}, Named: sourcetrust.Named{Repo: true}}
	up, err := newSession(t, factory, opts, nil).UpdateImages(context.Background(), ImagesRequest{})
	if err == nil || !strings.Contains(err.Error(), "nothing was committed") || up == nil || len(up.Containers) != 1 {
		t.Fatalf("got %v, %+v; want the scan's error and its containers", err, up)
	}
	if head := git(t, dir, "rev-parse", "HEAD"); head != rev {
		t.Errorf("HEAD moved to %s", head)
	}
}

func TestUpdateImagesDryRunReturnsTheEditAndCommitsNothing(t *testing.T) {
	factory := isolate(t)
	host := registryWith(t, "app", nil, "1.0.0", "1.1.0")
	dir, rev := repo(t, map[string]string{"web.yaml": automated("web", host+"/app:1.0.0")})
	opts := Options{Source: applyset.Source{Repo: dir}, Named: sourcetrust.Named{Repo: true}}
	up, err := newSession(t, factory, opts, nil).UpdateImages(context.Background(), ImagesRequest{
		DryRun: true, Images: []imageref.Ref{{Repo: host + "/app", Tag: "1.1.0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(up.Files["web.yaml"]), host+"/app:1.1.0") || up.Commit.Revision != "" {
		t.Errorf("dry run %+v; want the edited file and no commit", up)
	}
	if head := git(t, dir, "rev-parse", "HEAD"); head != rev {
		t.Errorf("HEAD moved to %s", head)
	}
}

func TestSetPolicyCommitsOnceAndKeepsAnExistingLock(t *testing.T) {
	factory := isolate(t)
	dir, rev := repo(t, map[string]string{"web.yaml": automated("web", "example.com/app:1.0.0")})
	opts := Options{Source: applyset.Source{Repo: dir}, Named: sourcetrust.Named{Repo: true}}
	yes := true
	id := workload.ID{Namespace: "demo", Kind: "deployment", Name: "web"}
	lock := PolicyRequest{Workload: id, Change: workload.PolicyChange{Locked: &yes, LockedMsg: "hold"}, Verb: "Locked", Message: "hold"}

	res, err := newSession(t, factory, opts, nil).SetPolicy(context.Background(), lock)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit.Revision == "" || res.Commit.Parent != rev {
		t.Fatalf("commit %+v; want one on %s", res.Commit, rev)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "web.yaml"))
	if !strings.Contains(string(b), "kubectl-gitops.dev/locked: \"true\"") || !strings.Contains(string(b), "Test Author <author@example.com>") {
		t.Errorf("web.yaml after the lock:\n%s", b)
	}
	if msg := git(t, dir, "log", "-1", "--format=%B"); !strings.Contains(msg, "Locked: demo:deployment/web") {
		t.Errorf("commit message %q", msg)
	}

	lock.Message = ""
	if _, err := newSession(t, factory, opts, nil).SetPolicy(context.Background(), lock); err == nil || !strings.Contains(err.Error(), "already locked by Test Author") {
		t.Errorf("locking again: %v; want a refusal naming who locked", err)
	}
	lock.Workload.Name = "api"
	if _, err := newSession(t, factory, opts, nil).SetPolicy(context.Background(), lock); err == nil || !strings.Contains(err.Error(), "demo:deployment/api") {
		t.Errorf("locking an unknown workload: %v", err)
	}
	if _, err := newSession(t, factory, Options{}, nil).SetPolicy(context.Background(), lock); err == nil || !strings.Contains(err.Error(), "--repo is required") {
		t.Errorf("no source: %v", err)
	}
}

func TestWorkloadsListsTheCommitsWorkloads(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{"web.yaml": automated("web", "example.com/app:1.0.0"), "cm.yaml": configMap("c", "1")})
	list, err := newSession(t, factory, Options{Source: applyset.Source{Repo: dir}, Named: sourcetrust.Named{Repo: true}}, nil).Workloads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Found) != 1 || list.Found[0].ID.String() != "demo:deployment/web" || !list.Found[0].Policy().Automated {
		t.Fatalf("workloads %+v", list.Found)
	}
}
