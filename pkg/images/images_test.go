package images

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// serve starts an in-process OCI registry holding repo with the tags, each
// an hour newer than the last, and returns its host.
func serve(t *testing.T, repo string, tags ...string) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
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

func deployment(name, annotations, image string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n" + annotations +
		"spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: " + image + "\n"
}

func scanAndPlan(t *testing.T, files map[string]string, opts UpdateOptions) ([]Change, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for n, d := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(d)}
	}
	reg, err := registry.New(registry.Config{NoDiskCache: true})
	if err != nil {
		t.Fatal(err)
	}
	containers, err := Scan(t.Context(), fsys, ".", "default", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Plan(t.Context(), containers, reg, opts)
}

func TestPlan(t *testing.T) {
	host := serve(t, "app", "1.0.0", "1.1.0", "1.2.0-rc.1", "b-old", "a-new")
	auto := func(filter string) string {
		a := "  annotations:\n    fluxcd.io/automated: \"true\"\n"
		if filter != "" {
			a += "    fluxcd.io/tag.app: " + filter + "\n"
		}
		return a
	}
	for _, tc := range []struct {
		name    string
		ann     string
		tag     string
		opts    UpdateOptions
		want    string // the new tag, "" for no change
		wantErr string
	}{
		{name: "semver moves forward", ann: auto("semver:^1"), tag: "1.0.0", want: "1.1.0"},
		{name: "semver never goes back", ann: auto("semver:~1.0"), tag: "1.1.0", want: ""},
		{name: "pre-releases only when asked", ann: auto("semver:>=1.2.0-rc.0"), tag: "1.1.0", want: "1.2.0-rc.1"},
		{name: "glob by creation time, not name", ann: auto("glob:*-*"), tag: "b-old", want: "a-new"},
		{name: "not automated: left alone", ann: "", tag: "1.0.0", want: ""},
		{name: "locked: left alone", ann: auto("semver:^1") + "    fluxcd.io/locked: \"true\"\n", tag: "1.0.0", want: ""},
		{name: "manual release of a non-automated workload", ann: "  annotations:\n    fluxcd.io/tag.app: semver:^1\n", tag: "1.0.0",
			opts: UpdateOptions{Workloads: []workload.ID{{Namespace: "default", Kind: "deployment", Name: "w"}}}, want: "1.1.0"},
		{name: "manual release of a locked workload is refused", ann: auto("") + "    fluxcd.io/locked: \"true\"\n", tag: "1.0.0",
			opts: UpdateOptions{Workloads: []workload.ID{{Namespace: "default", Kind: "deployment", Name: "w"}}}, wantErr: "locked"},
		{name: "release an exact tag whatever the filter", ann: auto("semver:~1.0"), tag: "1.0.0",
			opts: UpdateOptions{Images: []imageref.Ref{{Repo: host + "/app", Tag: "b-old"}}}, want: "b-old"},
		{name: "an invalid filter is an error", ann: auto("semver:nope"), tag: "1.0.0", wantErr: "default:deployment/w"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changes, err := scanAndPlan(t, map[string]string{"w.yaml": deployment("w", tc.ann, host+"/app:"+tc.tag)}, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && len(changes) != 0:
				t.Fatalf("changes %+v, want none", changes)
			case tc.want != "" && (len(changes) != 1 || changes[0].To != host+"/app:"+tc.want):
				t.Fatalf("changes %+v, want to %s", changes, tc.want)
			}
		})
	}
}

func TestEditVerifiesAndKeepsBytes(t *testing.T) {
	src := "# keep me\n" + deployment("w", "", "reg.example.com/app:1.0.0 # moved by automation")
	fsys := fstest.MapFS{"w.yaml": {Data: []byte(src)}}
	change := Change{Workload: workload.ID{Namespace: "default", Kind: "deployment", Name: "w"}, Container: "app", From: "reg.example.com/app:1.0.0", To: "reg.example.com/app:1.1.0"}
	files, err := Edit(fsys, ".", "default", []Change{change})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(files["w.yaml"]), strings.Replace(src, "app:1.0.0", "app:1.1.0", 1); got != want {
		t.Fatalf("edited:\n%s\nwant:\n%s", got, want)
	}
	change.Container = "nope"
	if _, err := Edit(fsys, ".", "default", []Change{change}); err == nil {
		t.Fatal("an edit of a missing container succeeded")
	}
}

func TestMessage(t *testing.T) {
	id := workload.ID{Namespace: "demo", Kind: "deployment", Name: "web"}
	one := []Change{{Workload: id, Container: "web", From: "demo/app:1.0.0", To: "demo/app:1.2.0"}}
	if got := Message(one, false, ""); got != "Auto-release demo/app:1.2.0\n\ndemo/app 1.0.0 -> 1.2.0 (demo:deployment/web)\n" {
		t.Fatalf("message %q", got)
	}
	two := append(one, Change{Workload: id, Container: "side", From: "demo/side:1", To: "demo/side:2"})
	if got := Message(two, true, ""); !strings.HasPrefix(got, "Release multiple (2) images\n\n") {
		t.Fatalf("message %q", got)
	}
	if got := Message(one, false, "Ship it"); !strings.HasPrefix(got, "Ship it\n\n") {
		t.Fatalf("message %q", got)
	}
}
