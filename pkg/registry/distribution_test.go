package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/crypto/bcrypt"
)

// distributionBinary is where Debian's docker-registry package puts the
// distribution registry (github.com/distribution/distribution).
const distributionBinary = "/usr/bin/docker-registry"

// startDistribution runs the distribution registry on a free loopback port
// with htpasswd basic auth for user and pass, and returns its host. The
// test fails when the registry is not installed: it is a real-registry test
// that CI runs, and must not pass by skipping.
func startDistribution(t *testing.T, user, pass string) string {
	t.Helper()
	bin := distributionBinary
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("docker-registry")
		if lerr != nil {
			t.Fatalf("the distribution registry is not installed (%v): install it with `apt-get install docker-registry` (CI installs it); this test runs against a real registry and is never skipped", err)
		}
		bin = p
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: kubectl-gitops-test
auth:
  htpasswd:
    realm: kubectl-gitops-test
    path: %s
`, filepath.Join(dir, "data"), host, htpasswd)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	var out lockedBuffer
	cmd := exec.Command(bin, "serve", configPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return host
			}
			t.Fatalf("distribution registry answered %s to an anonymous ping, want 401:\n%s", resp.Status, out.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("distribution registry exited: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("distribution registry did not listen on %s: %v\n%s", host, err, out.String())
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
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
