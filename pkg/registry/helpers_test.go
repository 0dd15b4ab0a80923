package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// startRegistry runs go-containerregistry's in-process registry on
// 127.0.0.1, behind the wrappers (outermost first), and returns its host.
func startRegistry(t testing.TB, wrappers ...func(http.Handler) http.Handler) string {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	for i := len(wrappers) - 1; i >= 0; i-- {
		h = wrappers[i](h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// pusher pushes test images, with credentials when the registry needs them.
type pusher struct {
	t    testing.TB
	p    *remote.Pusher
	host string
}

func newPusher(t testing.TB, host string, auth authn.Authenticator) *pusher {
	t.Helper()
	if auth == nil {
		auth = authn.Anonymous
	}
	p, err := remote.NewPusher(remote.WithAuth(auth))
	if err != nil {
		t.Fatal(err)
	}
	return &pusher{t: t, p: p, host: host}
}

// image returns a random image created at the given time.
func testImage(t testing.TB, created time.Time) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: created})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// push pushes img as repo:tag on the pusher's registry and returns its digest.
func (p *pusher) push(repo, tag string, img remote.Taggable) string {
	p.t.Helper()
	ref, err := name.NewTag(p.host + "/" + repo + ":" + tag)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.p.Push(context.Background(), ref, img); err != nil {
		p.t.Fatalf("push %s: %v", ref, err)
	}
	var d v1.Hash
	switch x := img.(type) {
	case v1.Image:
		d, err = x.Digest()
	case v1.ImageIndex:
		d, err = x.Digest()
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return d.String()
}

// pushImage pushes a new random image created at the given time.
func (p *pusher) pushImage(repo, tag string, created time.Time) string {
	p.t.Helper()
	return p.push(repo, tag, testImage(p.t, created))
}

// index builds a multi-platform index of the images by platform.
func index(t testing.TB, images map[string]v1.Image, order ...string) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, platform := range order {
		pl, err := v1.ParsePlatform(platform)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: images[platform], Descriptor: v1.Descriptor{Platform: pl}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

// anonymous is a keychain with no credentials, so that tests do not read
// the developer's docker config.
var anonymous = authn.NewMultiKeychain()

// newClient returns a Client for tests: no credentials, a temporary cache,
// fast retries.
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.Keychain == nil {
		cfg.Keychain = anonymous
	}
	if cfg.CacheDir == "" && !cfg.NoDiskCache {
		cfg.CacheDir = t.TempDir()
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// failing answers the first n requests that match with the status.
func failing(n int, status int, match func(*http.Request) bool, header http.Header) func(http.Handler) http.Handler {
	var left atomic.Int64
	left.Store(int64(n))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if match(r) && left.Add(-1) >= 0 {
				for k, v := range header {
					w.Header()[k] = v
				}
				http.Error(w, http.StatusText(status), status)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func isTagList(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/tags/list") }

// basicAuth requires the user and password on every /v2/ request, as a
// registry with htpasswd does.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// inFlight records the most requests the registry served at once.
type inFlight struct {
	mu       sync.Mutex
	now, max int
	delay    time.Duration
}

func (f *inFlight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.now++
		f.max = max(f.max, f.now)
		delay := f.delay
		f.mu.Unlock()
		time.Sleep(delay)
		next.ServeHTTP(w, r)
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
	})
}

// dockerConfig writes a docker config.json with credentials for the hosts
// into a temporary directory and points DOCKER_CONFIG at it.
func dockerConfig(t *testing.T, creds map[string][2]string) {
	t.Helper()
	dir := t.TempDir()
	auths := map[string]map[string]string{}
	for host, c := range creds {
		auths[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(c[0] + ":" + c[1]))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}
