package registry

import (
	"maps"
	"net/url"
	"strings"
	"sync"
)

// Stats counts the HTTP requests a Client sent, for tests, benchmarks and
// progress reports. Retries count as requests; pings answered from memory
// and cache hits do not.
type Stats struct {
	// Requests is the number of HTTP requests sent.
	Requests int
	// Repos counts requests by repository, named as in Response.Name
	// ("registry/path", e.g. "index.docker.io/library/nginx").
	Repos map[string]RepoStats
	// Hosts counts requests that name no repository, by host: pings
	// (GET /v2/), token exchanges, and redirects to blob storage.
	Hosts map[string]int
	// Throttled is the number of 429 answers; Retries the number of
	// requests sent again after a 429 or 5xx answer or a dropped
	// connection.
	Throttled, Retries int
}

// RepoStats counts the requests about one repository.
type RepoStats struct {
	TagLists  int // GET /v2/<repo>/tags/list, one per page
	Manifests int // HEAD and GET /v2/<repo>/manifests/<ref>
	Blobs     int // GET /v2/<repo>/blobs/<digest>: image configs
}

// Total is the number of requests about the repository.
func (r RepoStats) Total() int { return r.TagLists + r.Manifests + r.Blobs }

type counter struct {
	mu sync.Mutex
	s  Stats
}

func newCounter() *counter {
	return &counter{s: Stats{Repos: map[string]RepoStats{}, Hosts: map[string]int{}}}
}

func (c *counter) add(u *url.URL) {
	repo, kind := classify(u.Path)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Requests++
	if repo == "" {
		c.s.Hosts[u.Host]++
		return
	}
	key := u.Host + "/" + repo
	r := c.s.Repos[key]
	switch kind {
	case "tags":
		r.TagLists++
	case "manifests":
		r.Manifests++
	case "blobs":
		r.Blobs++
	}
	c.s.Repos[key] = r
}

func (c *counter) throttled() {
	c.mu.Lock()
	c.s.Throttled++
	c.mu.Unlock()
}

func (c *counter) retried() {
	c.mu.Lock()
	c.s.Retries++
	c.mu.Unlock()
}

func (c *counter) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Repos = maps.Clone(c.s.Repos)
	s.Hosts = maps.Clone(c.s.Hosts)
	return s
}

// classify finds the repository and the kind of a registry API path:
// /v2/<repo>/tags/list, /v2/<repo>/manifests/<ref>, /v2/<repo>/blobs/<digest>.
func classify(path string) (repo, kind string) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", ""
	}
	if r, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return r, "tags"
	}
	for _, k := range []string{"manifests", "blobs"} {
		if i := strings.LastIndex(rest, "/"+k+"/"); i > 0 {
			return rest[:i], k
		}
	}
	return "", ""
}
