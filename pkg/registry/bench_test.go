package registry

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imagepolicy"
)

// BenchmarkScan200x50 scans 200 repositories of 50 semver tags each on the
// in-process registry, as the images flow does for semver policies (tag
// lists only, no creation times), then scans again with a new Client on
// the same cache directory, as the next run within the tag TTL would.
//
// Reported: tag-list requests and all HTTP requests per repository for the
// first scan (target: 1 tag list each), and requests per repository for the
// re-scan (target: 0). The rate limit is off: the registry is in-process,
// and the benchmark measures requests and the client's own cost.
func BenchmarkScan200x50(b *testing.B) {
	const repos, tags = 200, 50
	host := startRegistry(b)
	p := newPusher(b, host, nil)
	var eg errgroup.Group
	eg.SetLimit(16)
	for r := range repos {
		eg.Go(func() error {
			repo, err := name.NewRepository(fmt.Sprintf("%s/bench/app-%03d", host, r))
			if err != nil {
				return err
			}
			img := testImage(b, t0)
			ctx := context.Background()
			if err := p.p.Push(ctx, repo.Tag("1.0.0"), img); err != nil {
				return err
			}
			for i := 1; i < tags; i++ {
				if err := p.p.Put(ctx, repo.Tag(fmt.Sprintf("1.%d.0", i)), img); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		b.Fatal(err)
	}

	policy := imagepolicy.MustParse("semver:^1")
	var requests []Request
	for r := range repos {
		req := Request{Repo: fmt.Sprintf("%s/bench/app-%03d", host, r)}
		if imagepolicy.NeedsCreated(policy) {
			req.Created = policy.Allows
		}
		requests = append(requests, req)
	}
	scan := func(c *Client) Stats {
		for _, resp := range c.Scan(context.Background(), requests) {
			if resp.Err != nil {
				b.Fatal(resp.Err)
			}
			var found []imagepolicy.Tag
			for _, t := range resp.Tags {
				found = append(found, imagepolicy.Tag{Name: t})
			}
			if newest, ok := imagepolicy.Newest(policy, found); len(resp.Tags) != tags || !ok || newest.Name != "1.49.0" {
				b.Fatalf("%s: %d tags, newest %q, want %d tags and 1.49.0", resp.Repo, len(resp.Tags), newest.Name, tags)
			}
		}
		return c.Stats()
	}

	var first, again Stats
	for b.Loop() {
		dir := b.TempDir()
		first = scan(newClient(b, Config{CacheDir: dir, RequestsPerSecond: -1}))
		again = scan(newClient(b, Config{CacheDir: dir, RequestsPerSecond: -1}))
	}
	tagLists := 0
	for _, s := range first.Repos {
		tagLists += s.TagLists
	}
	b.ReportMetric(float64(tagLists)/repos, "taglists/repo")
	b.ReportMetric(float64(first.Requests)/repos, "requests/repo")
	b.ReportMetric(float64(again.Requests)/repos, "rescan-requests/repo")
}
