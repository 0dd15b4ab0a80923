package registry

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testregistry"
)

// startDistribution runs the real distribution registry with htpasswd
// basic auth for user and pass, and returns its host.
func startDistribution(t *testing.T, user, pass string) string {
	t.Helper()
	return testregistry.StartDistribution(t, user, pass)
}

func TestDistributionRegistry(t *testing.T) {
	const user, pass = "gitops", "distribution-pa55"
	host := startDistribution(t, user, pass)
	p := newPusher(t, host, &authn.Basic{Username: user, Password: pass})
	digests := map[string]string{}
	for i, tag := range []string{"1.0.0", "1.1.0", "2.0.0-rc.1"} {
		digests[tag] = p.pushImage("team/app", tag, t0.Add(time.Duration(i)*time.Hour))
	}
	arm := testImage(t, t0.Add(5*time.Hour))
	p.push("team/app", "arm-only", index(t, map[string]v1.Image{"linux/arm64": arm}, "linux/arm64"))
	repo := host + "/team/app"
	ctx := context.Background()

	// Without credentials the registry refuses, and the error says what to do.
	dockerConfig(t, nil)
	c := newClient(t, Config{Keychain: authn.DefaultKeychain})
	_, err := c.Tags(ctx, repo)
	var re *Error
	if !errors.As(err, &re) || re.Kind != Denied ||
		!strings.Contains(err.Error(), "registry "+host+" refused access to "+repo+": log in with docker login") {
		t.Fatalf("Tags without credentials: %v, want Denied naming the registry", err)
	}
	if strings.Contains(err.Error(), pass) {
		t.Errorf("error shows the password: %v", err)
	}

	// With credentials from a docker config.
	dockerConfig(t, map[string][2]string{host: {user, pass}})
	cacheDir := t.TempDir()
	c = newClient(t, Config{Keychain: authn.DefaultKeychain, CacheDir: cacheDir})
	tags, err := c.Tags(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1.0.0", "1.1.0", "2.0.0-rc.1", "arm-only"}; !slices.Equal(tags, want) {
		t.Errorf("Tags = %q, want %q", tags, want)
	}
	created, digest, err := c.Created(ctx, repo, "1.1.0")
	if err != nil || !created.Equal(t0.Add(time.Hour)) || digest != digests["1.1.0"] {
		t.Errorf("Created(1.1.0) = %v %s %v, want %v %s", created, digest, err, t0.Add(time.Hour), digests["1.1.0"])
	}
	created, _, err = c.Created(ctx, repo, "arm-only")
	if err != nil || !created.Equal(t0.Add(5*time.Hour)) {
		t.Errorf("Created(arm-only) = %v %v, want the arm64 image's %v", created, err, t0.Add(5*time.Hour))
	}
	if n := c.Stats().Repos[repo].TagLists; n != 1 {
		t.Errorf("tag-list requests = %d, want 1", n)
	}

	// A second run within the TTL asks nothing.
	again := newClient(t, Config{Keychain: authn.DefaultKeychain, CacheDir: cacheDir})
	resp := again.Scan(ctx, []Request{{Repo: repo, Created: func(tag string) bool { return tag == "1.1.0" || tag == "arm-only" }}})
	if resp[0].Err != nil || len(resp[0].Tags) != 4 || len(resp[0].Images) != 2 {
		t.Fatalf("Scan = %+v", resp[0])
	}
	if s := again.Stats(); s.Requests != 0 {
		t.Errorf("second run sent %d requests, want 0: %+v", s.Requests, s)
	}
}
