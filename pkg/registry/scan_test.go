package registry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestScan(t *testing.T) {
	host := startRegistry(t)
	p := newPusher(t, host, nil)
	p.pushImage("web", "1.0.0", t0)
	p.pushImage("web", "1.1.0", t0.Add(time.Hour))
	p.pushImage("web", "main-aaa", t0.Add(2*time.Hour))
	p.pushImage("web", "main-bbb", t0.Add(3*time.Hour))
	p.pushImage("api", "v1", t0)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()

	mainOnly := func(tag string) bool { return strings.HasPrefix(tag, "main-") }
	requests := []Request{
		{Repo: host + "/web"},                          // semver: tags only
		{Repo: host + "/web:1.0.0", Created: mainOnly}, // glob main-*
		{Repo: host + "/missing"},                      // no such repository
		{Repo: down + "/app"},                          // registry down
		{Repo: "Not A Name"},                           // invalid
		{Repo: host + "/api", Created: func(string) bool { return true }}, // every tag
	}
	c := newClient(t, Config{})
	resp := c.Scan(context.Background(), requests)
	if len(resp) != len(requests) {
		t.Fatalf("%d responses for %d requests", len(resp), len(requests))
	}
	for i, r := range resp {
		if r.Repo != requests[i].Repo {
			t.Errorf("response %d is for %q, want %q", i, r.Repo, requests[i].Repo)
		}
	}

	wantTags := []string{"1.0.0", "1.1.0", "main-aaa", "main-bbb"}
	for _, i := range []int{0, 1} {
		if resp[i].Err != nil || !slices.Equal(resp[i].Tags, wantTags) || resp[i].Name != host+"/web" {
			t.Errorf("web response %d = %+v, want tags %q", i, resp[i], wantTags)
		}
	}
	if resp[0].Images != nil {
		t.Errorf("images for a request without Created: %v", resp[0].Images)
	}
	if len(resp[1].Images) != 2 || !resp[1].Images["main-bbb"].Created.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("images for main-* = %+v", resp[1].Images)
	}
	if len(resp[5].Images) != 1 || resp[5].Err != nil {
		t.Errorf("api response = %+v", resp[5])
	}

	var re *Error
	if !errors.As(resp[2].Err, &re) || re.Kind != NotFound {
		t.Errorf("missing repository: %v, want NotFound", resp[2].Err)
	}
	if !errors.As(resp[3].Err, &re) || re.Kind != Unreachable || !strings.Contains(resp[3].Err.Error(), "registry "+down+" unreachable for image "+down+"/app") {
		t.Errorf("registry down: %v, want Unreachable naming it", resp[3].Err)
	}
	if resp[4].Err == nil || !strings.Contains(resp[4].Err.Error(), `invalid image name "Not A Name"`) {
		t.Errorf("invalid name: %v", resp[4].Err)
	}

	// Each repository was asked once, and only the selected tags' images
	// were read.
	s := c.Stats()
	if got, want := s.Repos[host+"/web"], (RepoStats{TagLists: 1, Manifests: 4, Blobs: 2}); got != want {
		t.Errorf("requests for web = %+v, want %+v", got, want)
	}
	if got := s.Repos[host+"/missing"].TagLists; got != 1 {
		t.Errorf("tag-list requests for missing = %d, want 1 (404 is not retried)", got)
	}
}

func TestScanTagFailure(t *testing.T) {
	var broken atomic.Bool
	host := startRegistry(t, failing(100, 500, func(r *http.Request) bool {
		return broken.Load() && strings.HasSuffix(r.URL.Path, "/manifests/bad")
	}, nil))
	p := newPusher(t, host, nil)
	p.pushImage("app", "good", t0)
	p.pushImage("app", "bad", t0)
	broken.Store(true)
	c := newClient(t, Config{Tries: 2})
	resp := c.Scan(context.Background(), []Request{{Repo: host + "/app", Created: func(string) bool { return true }}})[0]
	var re *Error
	if !errors.As(resp.Err, &re) || re.Kind != ServerError || re.Tag != "bad" {
		t.Fatalf("Err = %v, want a ServerError for tag bad", resp.Err)
	}
	if _, ok := resp.Images["good"]; !ok || len(resp.Tags) != 2 {
		t.Errorf("the good tag is missing: %+v", resp)
	}
}

func TestScanCanceled(t *testing.T) {
	host := startRegistry(t)
	newPusher(t, host, nil).pushImage("app", "1", t0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := newClient(t, Config{})
	resp := c.Scan(ctx, []Request{{Repo: host + "/app"}})
	if !errors.Is(resp[0].Err, context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", resp[0].Err)
	}
	// A canceled run is not remembered.
	resp = c.Scan(context.Background(), []Request{{Repo: host + "/app"}})
	if resp[0].Err != nil || len(resp[0].Tags) != 1 {
		t.Fatalf("after a canceled scan: %+v", resp[0])
	}
}
