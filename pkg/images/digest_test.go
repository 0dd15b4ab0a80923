package images

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testregistry"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
)

type basicKeychain struct{ user, pass string }

func (k basicKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// pushRandom pushes a new random image under repo:tag and returns its
// digest.
func pushRandom(t *testing.T, host, repo, tag string, kc authn.Keychain) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(kc)); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestDigestRepin runs against the real distribution registry: an image
// kept as repo:tag@digest is pinned anew when the tag is pushed again with
// other content, by a workload's digest annotation "pin" and by markers of
// a policy whose digestReflectionPolicy is Always; IfNotPresent keeps the
// digest in git while the tag does not move, and an image without the
// annotation keeps its digest. The next run shares the disk cache of the
// first, which must not answer for the tag.
func TestDigestRepin(t *testing.T) {
	const user, pass = "gitops", "digest-pa55"
	host := testregistry.StartDistribution(t, user, pass)
	kc := basicKeychain{user, pass}
	first := pushRandom(t, host, "team/app", "1.0.0", kc)
	cacheDir := t.TempDir()
	client := func() *registry.Client {
		reg, err := registry.New(registry.Config{Keychain: kc, CacheDir: cacheDir})
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	repo := host + "/team/app"
	pin := "  annotations:\n    kubectl-gitops.dev/automated: \"true\"\n    kubectl-gitops.dev/tag.app: semver:1.0.x\n    kubectl-gitops.dev/digest.app: pin\n"
	noPin := "  annotations:\n    kubectl-gitops.dev/automated: \"true\"\n    kubectl-gitops.dev/tag.app: semver:1.0.x\n"
	plan := func(files map[string]string) []Change {
		t.Helper()
		fsys := fstest.MapFS{}
		for n, d := range files {
			fsys[n] = &fstest.MapFile{Data: []byte(d)}
		}
		reg := client()
		containers, err := Scan(context.Background(), fsys, ".", "default", reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		changes, err := Plan(context.Background(), containers, reg, UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return changes
	}

	// Pinned for the first time, then unchanged while the tag stays.
	changes := plan(map[string]string{"d.yaml": deployment("web", pin, repo+":1.0.0")})
	if len(changes) != 1 || changes[0].To != repo+":1.0.0@"+first {
		t.Fatalf("first pin: %+v, want %s:1.0.0@%s", changes, repo, first)
	}
	if changes := plan(map[string]string{"d.yaml": deployment("web", pin, repo+":1.0.0@"+first)}); len(changes) != 0 {
		t.Fatalf("unchanged tag: %+v, want no change", changes)
	}

	// The tag is pushed again with other content.
	second := pushRandom(t, host, "team/app", "1.0.0", kc)
	if second == first {
		t.Fatal("the new image has the old digest")
	}
	changes = plan(map[string]string{
		"d.yaml": deployment("web", pin, repo+":1.0.0@"+first),
		"e.yaml": deployment("other", noPin, repo+":1.0.0@"+first),
	})
	if len(changes) != 1 || changes[0].Workload.Name != "web" || changes[0].To != repo+":1.0.0@"+second {
		t.Fatalf("after the rebuild: %+v, want only web re-pinned to %s", changes, second)
	}

	// Markers: Always re-pins, IfNotPresent keeps the digest in git.
	policies := func(reflect string) string {
		return `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: flux-system}
spec: {image: ` + repo + `, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: flux-system}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: 1.0.x}}
  digestReflectionPolicy: ` + reflect + `
`
	}
	marked := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  image: " + repo + ":1.0.0@" + first + " # {\"$imagepolicy\": \"flux-system:app\"}\n" +
		"  digest: '" + first + "' # {\"$imagepolicy\": \"flux-system:app:digest\"}\n"
	for _, tc := range []struct{ reflect, want string }{{"Always\n  interval: 1h", second}, {"IfNotPresent", first}} {
		fsys := fstest.MapFS{
			"flux/policies.yaml": {Data: []byte(policies(tc.reflect))},
			"apps/c.yaml":        {Data: []byte(marked)},
		}
		_, cfg, err := Tree{FS: fsys, Dir: ".", Namespace: "default"}.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		reg := client()
		f, err := ScanFlux(context.Background(), fsys, ".", cfg, reg)
		if err != nil || f.Err != nil {
			t.Fatal(err, f.Err)
		}
		files := map[string][]byte{}
		if _, err := f.EditMarkers(context.Background(), fsys, files, reg, nil); err != nil {
			t.Fatal(err)
		}
		got, ok := files["apps/c.yaml"]
		if !ok {
			got = []byte(marked)
		}
		want := strings.ReplaceAll(marked, first, tc.want)
		if string(got) != want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.reflect, got, want)
		}
	}
}
