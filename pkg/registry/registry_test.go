package registry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func TestTags(t *testing.T) {
	host := startRegistry(t)
	p := newPusher(t, host, nil)
	for _, tag := range []string{"1.0.0", "1.1.0", "latest"} {
		p.pushImage("team/app", tag, t0)
	}
	p.pushImage("other", "v1", t0)

	c := newClient(t, Config{})
	ctx := context.Background()
	got, err := c.Tags(ctx, host+"/team/app")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1.0.0", "1.1.0", "latest"}; !slices.Equal(got, want) {
		t.Errorf("Tags = %q, want %q", got, want)
	}
	// A tag or digest on the name is ignored; the Client asks once.
	for range 3 {
		if _, err := c.Tags(ctx, host+"/team/app:1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Tags(ctx, host+"/other"); err != nil || !slices.Equal(got, []string{"v1"}) {
		t.Errorf("Tags(other) = %q, %v", got, err)
	}
	s := c.Stats()
	if n := s.Repos[host+"/team/app"].TagLists; n != 1 {
		t.Errorf("tag-list requests for team/app = %d, want 1 (stats %+v)", n, s)
	}
	if n := s.Hosts[host]; n != 1 {
		t.Errorf("pings of %s = %d, want 1 for two repositories (stats %+v)", host, n, s)
	}
	if s.Requests != 3 {
		t.Errorf("requests = %d, want 3: one ping and one tag list per repository (stats %+v)", s.Requests, s)
	}
}

func TestTagsNotFound(t *testing.T) {
	host := startRegistry(t)
	c := newClient(t, Config{})
	_, err := c.Tags(context.Background(), host+"/nothing")
	var re *Error
	if !errors.As(err, &re) || re.Kind != NotFound {
		t.Fatalf("Tags of a missing repository: %v, want a NotFound *Error", err)
	}
	if want := "registry " + host + " has no image " + host + "/nothing"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
}

func TestCreated(t *testing.T) {
	host := startRegistry(t)
	p := newPusher(t, host, nil)
	d1 := p.pushImage("app", "1.0", t0)
	d2 := p.pushImage("app", "2.0", t0.Add(time.Hour))
	p.push("app", "same", testImage(t, t0)) // a third image

	c := newClient(t, Config{})
	ctx := context.Background()
	for _, tt := range []struct {
		tag    string
		digest string
		at     time.Time
	}{{"1.0", d1, t0}, {"2.0", d2, t0.Add(time.Hour)}} {
		created, digest, err := c.Created(ctx, host+"/app", tt.tag)
		if err != nil {
			t.Fatal(err)
		}
		if !created.Equal(tt.at) || digest != tt.digest {
			t.Errorf("Created(%s) = %v %s, want %v %s", tt.tag, created, digest, tt.at, tt.digest)
		}
		d, err := c.Digest(ctx, host+"/app", tt.tag)
		if err != nil || d != tt.digest {
			t.Errorf("Digest(%s) = %s %v, want %s", tt.tag, d, err, tt.digest)
		}
	}
	// HEAD, GET manifest and GET config per tag; Digest asked nothing more.
	if got, want := c.Stats().Repos[host+"/app"], (RepoStats{Manifests: 4, Blobs: 2}); got != want {
		t.Errorf("requests for app = %+v, want %+v", got, want)
	}

	_, _, err := c.Created(ctx, host+"/app", "nope")
	var re *Error
	if !errors.As(err, &re) || re.Kind != NotFound || re.Tag != "nope" {
		t.Fatalf("Created of a missing tag: %v, want a NotFound *Error", err)
	}
	if want := "registry " + host + " has no tag nope for image " + host + "/app"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
}

func TestCreatedMultiPlatform(t *testing.T) {
	host := startRegistry(t)
	p := newPusher(t, host, nil)
	amd := testImage(t, t0.Add(1*time.Hour))
	arm := testImage(t, t0.Add(2*time.Hour))
	armv7 := testImage(t, t0.Add(3*time.Hour))
	images := map[string]v1.Image{"linux/amd64": amd, "linux/arm64": arm, "linux/arm/v7": armv7}
	armOnly := p.push("app", "arm-only", index(t, images, "linux/arm64"))
	p.push("app", "arm-first", index(t, images, "linux/arm64", "linux/amd64"))
	p.push("app", "two-arm", index(t, images, "linux/arm/v7", "linux/arm64"))

	tests := []struct {
		platform, tag string
		want          time.Time
		wantPlatform  string
	}{
		// Flux v1 failed on arm-only images (#3066).
		{"", "arm-only", t0.Add(2 * time.Hour), "linux/arm64"},
		{"", "arm-first", t0.Add(1 * time.Hour), "linux/amd64"},
		{"", "two-arm", t0.Add(3 * time.Hour), "linux/arm/v7"},
		{"linux/arm64", "two-arm", t0.Add(2 * time.Hour), "linux/arm64"},
		{"linux/arm64", "arm-first", t0.Add(2 * time.Hour), "linux/arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.platform+" "+tt.tag, func(t *testing.T) {
			c := newClient(t, Config{Platform: tt.platform})
			created, digest, err := c.Created(context.Background(), host+"/app", tt.tag)
			if err != nil {
				t.Fatal(err)
			}
			if !created.Equal(tt.want) {
				t.Errorf("Created = %v, want %v (the %s image)", created, tt.want, tt.wantPlatform)
			}
			if tt.tag == "arm-only" && digest != armOnly {
				t.Errorf("digest = %s, want the index's %s", digest, armOnly)
			}
			r, _ := c.parseRepo(host + "/app")
			img, err := c.imageOf(context.Background(), r, tt.tag)
			if err != nil || img.Platform != tt.wantPlatform {
				t.Errorf("platform = %q %v, want %q", img.Platform, err, tt.wantPlatform)
			}
		})
	}
	if _, err := New(Config{Platform: "linux/amd64/v2/x/y"}); err == nil {
		t.Error("New with a bad platform: no error")
	}
}

func TestDiskCache(t *testing.T) {
	host := startRegistry(t)
	p := newPusher(t, host, nil)
	for i, tag := range []string{"a", "b", "c"} {
		p.pushImage("app", tag, t0.Add(time.Duration(i)*time.Hour))
	}
	dir := t.TempDir()
	now := t0
	clock := func() time.Time { return now }
	ctx := context.Background()
	scan := func(c *Client) []Response {
		t.Helper()
		resp := c.Scan(ctx, []Request{{Repo: host + "/app", Created: func(string) bool { return true }}})
		if resp[0].Err != nil || len(resp[0].Tags) != 3 || len(resp[0].Images) != 3 {
			t.Fatalf("Scan = %+v", resp[0])
		}
		return resp
	}

	first := newClient(t, Config{CacheDir: dir, now: clock})
	want := scan(first)
	if s := first.Stats().Repos[host+"/app"]; s != (RepoStats{TagLists: 1, Manifests: 6, Blobs: 3}) {
		t.Errorf("first scan requests = %+v", s)
	}

	// Within the TTL a new Client asks nothing at all.
	now = t0.Add(4 * time.Minute)
	second := newClient(t, Config{CacheDir: dir, now: clock})
	got := scan(second)
	if s := second.Stats(); s.Requests != 0 {
		t.Errorf("second scan within the TTL sent %d requests, want 0 (%+v)", s.Requests, s)
	}
	for tag, img := range want[0].Images {
		if g := got[0].Images[tag]; g.Digest != img.Digest || !g.Created.Equal(img.Created) {
			t.Errorf("cached %s = %+v, want %+v", tag, g, img)
		}
	}

	// After the TTL: the tag list and the tags' digests again (one HEAD
	// each), but not the creation times of known digests.
	now = t0.Add(6 * time.Minute)
	moved := p.pushImage("app", "c", t0.Add(10*time.Hour))
	third := newClient(t, Config{CacheDir: dir, now: clock})
	got = scan(third)
	if s := third.Stats().Repos[host+"/app"]; s != (RepoStats{TagLists: 1, Manifests: 3 + 1, Blobs: 1}) {
		t.Errorf("scan after the TTL = %+v, want 1 tag list, 3 HEADs and the moved tag's manifest and config", s)
	}
	if g := got[0].Images["c"]; g.Digest != moved || !g.Created.Equal(t0.Add(10*time.Hour)) {
		t.Errorf("moved tag c = %+v, want %s created %v", g, moved, t0.Add(10*time.Hour))
	}

	// A negative TTL never trusts the cached tag list.
	fourth := newClient(t, Config{CacheDir: dir, now: clock, TagTTL: -1})
	scan(fourth)
	if s := fourth.Stats().Repos[host+"/app"]; s.TagLists != 1 || s.Blobs != 0 {
		t.Errorf("negative TTL = %+v, want 1 tag list and no blobs", s)
	}

	// Without the disk cache, each Client asks again.
	fifth := newClient(t, Config{NoDiskCache: true})
	scan(fifth)
	if s := fifth.Stats().Repos[host+"/app"]; s != (RepoStats{TagLists: 1, Manifests: 6, Blobs: 3}) {
		t.Errorf("no disk cache = %+v", s)
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name        string
		failures    int
		status      int
		header      http.Header
		tries       int
		wantErr     ErrorKind // -1: none
		wantSent    int
		wantMessage string
	}{
		{name: "429 twice", failures: 2, status: 429, wantErr: -1, wantSent: 3},
		{name: "503 three times", failures: 3, status: 503, wantErr: -1, wantSent: 4},
		{name: "502 then fine", failures: 1, status: 502, wantErr: -1, wantSent: 2},
		{name: "500 for ever", failures: 100, status: 500, wantErr: ServerError, wantSent: 4,
			wantMessage: "failed for image %s/app, also after retries"},
		{name: "429 for ever", failures: 100, status: 429, wantErr: RateLimited, wantSent: 4,
			wantMessage: "registry %s is rate limiting requests for %s/app (HTTP 429 Too Many Requests): wait and run again"},
		{name: "no retries", failures: 1, status: 503, tries: 1, wantErr: ServerError, wantSent: 1},
		{name: "Retry-After too long", failures: 1, status: 429, header: http.Header{"Retry-After": {"3600"}},
			wantErr: RateLimited, wantSent: 1},
		{name: "short Retry-After", failures: 1, status: 429, header: http.Header{"Retry-After": {"0"}},
			wantErr: -1, wantSent: 2},
		{name: "404 is not retried", failures: 1, status: 404, wantErr: NotFound, wantSent: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := startRegistry(t, failing(tt.failures, tt.status, isTagList, tt.header))
			newPusher(t, host, nil).pushImage("app", "1", t0)
			c := newClient(t, Config{Tries: tt.tries})
			tags, err := c.Tags(context.Background(), host+"/app")
			s := c.Stats()
			if got := s.Repos[host+"/app"].TagLists; got != tt.wantSent {
				t.Errorf("tag-list requests = %d, want %d", got, tt.wantSent)
			}
			if tt.wantErr == -1 {
				if err != nil || !slices.Equal(tags, []string{"1"}) {
					t.Fatalf("Tags = %q, %v", tags, err)
				}
				if s.Retries != tt.wantSent-1 {
					t.Errorf("retries = %d, want %d", s.Retries, tt.wantSent-1)
				}
				return
			}
			var re *Error
			if !errors.As(err, &re) || re.Kind != tt.wantErr {
				t.Fatalf("Tags error = %v, want kind %d", err, tt.wantErr)
			}
			if tt.wantMessage != "" {
				msg := strings.ReplaceAll(tt.wantMessage, "%s", host)
				if !strings.Contains(err.Error(), msg) {
					t.Errorf("error %q, want it to contain %q", err, msg)
				}
			}
		})
	}
}

func TestThrottleHalvesRate(t *testing.T) {
	host := startRegistry(t, failing(2, http.StatusTooManyRequests, isTagList, nil))
	newPusher(t, host, nil).pushImage("app", "1", t0)
	now := t0
	c := newClient(t, Config{RequestsPerSecond: 1000, Burst: 100, now: func() time.Time { return now }})
	if _, err := c.Tags(context.Background(), host+"/app"); err != nil {
		t.Fatal(err)
	}
	if got := c.stack.limiters.currentRate(host); got != 250 {
		t.Errorf("rate after two 429 = %v, want 250 (halved twice)", got)
	}
	if s := c.Stats(); s.Throttled != 2 {
		t.Errorf("throttled = %d, want 2", s.Throttled)
	}
	now = now.Add(throttleFor)
	if got := c.stack.limiters.currentRate(host); got != 1000 {
		t.Errorf("rate a minute later = %v, want 1000 again", got)
	}
}

func TestRateLimit(t *testing.T) {
	l := newHostLimiters(20, 2, time.Minute, time.Now)
	ctx := context.Background()
	start := time.Now()
	for range 6 {
		if err := l.wait(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	// 2 at once from the burst, then 4 at 20/s: at least 200ms.
	if d := time.Since(start); d < 180*time.Millisecond || d > 2*time.Second {
		t.Errorf("6 requests at 20/s with burst 2 took %v, want about 200ms", d)
	}
	// Another host has its own bucket.
	start = time.Now()
	for range 2 {
		_ = l.wait(ctx, "b")
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("another host waited %v", d)
	}
	// A canceled context stops the wait.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.wait(cctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with a canceled context = %v", err)
	}
	// Unlimited.
	u := newHostLimiters(-1, 1, time.Minute, time.Now)
	for range 100 {
		_ = u.wait(ctx, "a")
	}
}

func TestConcurrencyBound(t *testing.T) {
	f := &inFlight{}
	host := startRegistry(t, f.wrap)
	p := newPusher(t, host, nil)
	var reqs []Request
	for i := range 12 {
		repo := "app" + string(rune('a'+i))
		p.pushImage(repo, "1", t0)
		reqs = append(reqs, Request{Repo: host + "/" + repo})
	}
	f.mu.Lock()
	f.max, f.delay = 0, 20*time.Millisecond
	f.mu.Unlock()
	c := newClient(t, Config{Concurrency: 3, RequestsPerSecond: -1})
	for _, r := range c.Scan(context.Background(), reqs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if f.max > 3 || f.max < 2 {
		t.Errorf("at most %d requests in flight, want 3 (the bound)", f.max)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	c := newClient(t, Config{})
	_, err = c.Tags(context.Background(), host+"/app")
	var re *Error
	if !errors.As(err, &re) || re.Kind != Unreachable {
		t.Fatalf("Tags of a closed port: %v, want an Unreachable *Error", err)
	}
	if want := "registry " + host + " unreachable for image " + host + "/app: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say why", err)
	}
	// Connection refused is not retried.
	if s := c.Stats(); s.Requests > 2 {
		t.Errorf("sent %d requests to a closed port", s.Requests)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Tags(ctx, "registry.invalid/app")
	if !errors.As(err, &re) || re.Kind != Unreachable {
		t.Fatalf("Tags of an unknown host: %v, want an Unreachable *Error", err)
	}
	if want := "registry registry.invalid unreachable for image registry.invalid/app: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
}

// TestInsecure reaches a plain-HTTP registry under a name that is not a
// loopback address, through a transport that dials the test server.
func TestInsecure(t *testing.T) {
	host := startRegistry(t)
	newPusher(t, host, nil).pushImage("app", "1", t0)
	dial := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, host)
	}}
	ctx := context.Background()

	c := newClient(t, Config{Transport: dial, Insecure: []string{"Registry.Example:5000"}})
	tags, err := c.Tags(ctx, "registry.example:5000/app")
	if err != nil || !slices.Equal(tags, []string{"1"}) {
		t.Fatalf("Tags over plain HTTP = %q, %v", tags, err)
	}

	c = newClient(t, Config{Transport: dial})
	_, err = c.Tags(ctx, "registry.example:5000/app")
	var re *Error
	if !errors.As(err, &re) || re.Kind != TLS {
		t.Fatalf("Tags over HTTPS from a plain HTTP registry: %v, want a TLS *Error", err)
	}
	if !strings.Contains(err.Error(), "list it as insecure") {
		t.Errorf("error %q does not say what to do", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1": true, "127.0.0.1:5000": true,
		"[::1]:5000": true, "[::1]": true, "127.1.2.3:1": true,
		"example.com": false, "10.0.0.1:5000": false, "localhost.example.com": false, "[::2]:1": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ path, repo, kind string }{
		{"/v2/", "", ""},
		{"/v2/library/nginx/tags/list", "library/nginx", "tags"},
		{"/v2/a/b/c/manifests/sha256:abc", "a/b/c", "manifests"},
		{"/v2/app/blobs/sha256:abc", "app", "blobs"},
		{"/v2/manifests/manifests/1", "manifests", "manifests"},
		{"/token", "", ""},
	}
	for _, tt := range tests {
		if repo, kind := classify(tt.path); repo != tt.repo || kind != tt.kind {
			t.Errorf("classify(%q) = %q %q, want %q %q", tt.path, repo, kind, tt.repo, tt.kind)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "-1": 0, "soon": 0,
		time.Now().Add(time.Hour).UTC().Format(http.TimeFormat): time.Hour,
	} {
		got := retryAfter(&http.Response{Header: http.Header{"Retry-After": {v}}})
		if got > want || got < want-2*time.Second {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := &stack{backoff: 100 * time.Millisecond, maxBackoff: time.Second}
	tests := []struct {
		try        int
		retryAfter time.Duration
		min        time.Duration
		ok         bool
	}{
		{1, 0, 100 * time.Millisecond, true},
		{2, 0, 200 * time.Millisecond, true},
		{3, 0, 400 * time.Millisecond, true},
		{10, 0, time.Second, true}, // capped
		{60, 0, time.Second, true}, // no overflow
		{1, 700 * time.Millisecond, 700 * time.Millisecond, true},
		{1, 2 * time.Second, 0, false}, // longer than we wait: give up
	}
	for _, tt := range tests {
		d, ok := s.wait(tt.try, tt.retryAfter)
		if ok != tt.ok || (ok && (d < tt.min || d > tt.min*6/5+time.Millisecond)) {
			t.Errorf("wait(%d, %v) = %v %v, want about %v %v", tt.try, tt.retryAfter, d, ok, tt.min, tt.ok)
		}
	}
}
