package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"
)

// linkPages makes go-containerregistry's in-process registry paginate as
// the distribution registry does: it honours n and last but sends no Link
// header (and answers a last past every tag with the first page), so a
// page of exactly n tags gets
// `Link: </v2/<repo>/tags/list?n=N&last=LAST>; rel="next"`.
func linkPages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/tags/list") || err != nil || n <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var page struct {
			Tags []string `json:"tags"`
		}
		body := rec.Body.Bytes()
		if last := r.URL.Query().Get("last"); rec.Code == http.StatusOK && json.Unmarshal(body, &page) == nil && last != "" && len(page.Tags) > 0 && page.Tags[0] <= last {
			// go-containerregistry's registry answers a last beyond
			// every tag with the first page again: it is the end.
			page.Tags = []string{}
			body, _ = json.Marshal(page)
			rec.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		if rec.Code == http.StatusOK && len(page.Tags) == n {
			q := url.Values{"n": {strconv.Itoa(n)}, "last": {page.Tags[n-1]}}
			w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// putTags puts one image under count tags of repo, named by tagName.
func putTags(tb testing.TB, p *pusher, repo string, count int, tagName func(int) string) {
	tb.Helper()
	r, err := name.NewRepository(p.host + "/" + repo)
	if err != nil {
		tb.Fatal(err)
	}
	img := testImage(tb, t0)
	ctx := context.Background()
	if err := p.p.Push(ctx, r.Tag(tagName(0)), img); err != nil {
		tb.Fatal(err)
	}
	var eg errgroup.Group
	eg.SetLimit(16)
	for i := 1; i < count; i++ {
		eg.Go(func() error { return p.p.Put(ctx, r.Tag(tagName(i)), img) })
	}
	if err := eg.Wait(); err != nil {
		tb.Fatal(err)
	}
}

// TestTagPagination: a tag list paged with Link headers is followed to
// its end, and a second run within the TTL is answered by the disk cache.
// (Debian's distribution registry, 2.8, sends every tag in one answer and
// ignores n: pages are tested on the in-process registry, paged as
// distribution 3 pages them.)
func TestTagPagination(t *testing.T) {
	host := startRegistry(t, linkPages)
	putTags(t, newPusher(t, host, nil), "team/many", 25, func(i int) string { return fmt.Sprintf("1.%02d.0", i) })
	cache := t.TempDir()
	repo := host + "/team/many"
	c := newClient(t, Config{CacheDir: cache, PageSize: 10})
	tags, err := c.Tags(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 25 || tags[0] != "1.00.0" || tags[24] != "1.24.0" {
		t.Fatalf("%d tags, want 25: %q", len(tags), tags)
	}
	if n := c.Stats().Repos[repo].TagLists; n != 3 {
		t.Errorf("tag-list pages = %d, want 3 (25 tags, 10 a page): %+v", n, c.Stats())
	}
	again := newClient(t, Config{CacheDir: cache, PageSize: 10})
	if tags, err := again.Tags(context.Background(), repo); err != nil || len(tags) != 25 || again.Stats().Requests != 0 {
		t.Fatalf("second run: %d tags, %v, %d requests; want 25 from the cache and none sent", len(tags), err, again.Stats().Requests)
	}
}

// BenchmarkTags10000 lists a repository of 10,000 tags on the in-process
// registry (paged by Link headers, 1000 tags a page as
// go-containerregistry asks), with a new Client and no disk cache each
// time, and reports the time per listing, the requests it sent and the
// tag-list pages among them. Then it lists again on a warm disk cache:
// no request.
func BenchmarkTags10000(b *testing.B) {
	const count = 10000
	host := startRegistry(b, linkPages)
	putTags(b, newPusher(b, host, nil), "bench/huge", count, func(i int) string { return fmt.Sprintf("v%05d", i) })
	repo := host + "/bench/huge"
	var stats Stats
	for b.Loop() {
		c := newClient(b, Config{NoDiskCache: true, RequestsPerSecond: -1})
		tags, err := c.Tags(context.Background(), repo)
		if err != nil {
			b.Fatal(err)
		}
		if len(tags) != count || tags[0] != "v00000" || tags[count-1] != "v09999" {
			b.Fatalf("%d tags (%q ... %q), want %d", len(tags), tags[0], tags[len(tags)-1], count)
		}
		stats = c.Stats()
	}
	b.ReportMetric(float64(stats.Requests), "requests/list")
	b.ReportMetric(float64(stats.Repos[repo].TagLists), "pages/list")

	cache := b.TempDir()
	cold := newClient(b, Config{CacheDir: cache, RequestsPerSecond: -1})
	if _, err := cold.Tags(context.Background(), repo); err != nil {
		b.Fatal(err)
	}
	warm := newClient(b, Config{CacheDir: cache, RequestsPerSecond: -1})
	if tags, err := warm.Tags(context.Background(), repo); err != nil || len(tags) != count || warm.Stats().Requests != 0 {
		b.Fatalf("warm cache: %d tags, %v, %d requests; want %d and none", len(tags), err, warm.Stats().Requests, count)
	}
	b.ReportMetric(float64(warm.Stats().Requests), "rescan-requests")
}
