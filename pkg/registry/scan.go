package registry

import (
	"context"
	"maps"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Request asks Scan about one repository.
type Request struct {
	// Repo is the image repository, e.g. "nginx" or "ghcr.io/org/app"; a
	// tag or digest on it is ignored.
	Repo string
	// Created selects the tags whose digest and creation time are needed
	// (glob and regex policies order tags by creation time; pass the
	// policy's Allows). nil: none, only the tag list.
	Created func(tag string) bool
}

// Response answers one Request.
type Response struct {
	// Repo is the Request's Repo; Name the repository's full name, such as
	// "index.docker.io/library/nginx".
	Repo, Name string
	// Tags are the repository's tags, sorted by name.
	Tags []string
	// Images holds, for each tag selected by Request.Created, what it
	// points at. A tag that failed is missing, and Err says why.
	Images map[string]Image
	// Err is the first failure for this repository; other repositories are
	// not affected. Tags and Images hold what was found before it.
	Err error
}

// Scan answers the requests, asking each repository once (requests for the
// same repository share one tag list) and working on Concurrency
// repositories at a time. Responses are in the order of the requests. A
// failing repository fails only its own responses.
func (c *Client) Scan(ctx context.Context, requests []Request) []Response {
	responses := make([]Response, len(requests))
	type group struct {
		indexes []int
		repo    string
	}
	groups := map[string]*group{}
	var order []string
	for i, req := range requests {
		responses[i].Repo = req.Repo
		r, err := c.parseRepo(req.Repo)
		if err != nil {
			responses[i].Err = err
			continue
		}
		responses[i].Name = r.Name()
		g := groups[r.Name()]
		if g == nil {
			g = &group{repo: req.Repo}
			groups[r.Name()] = g
			order = append(order, r.Name())
		}
		g.indexes = append(g.indexes, i)
	}

	var eg errgroup.Group
	eg.SetLimit(c.cfg.Concurrency)
	for _, key := range order {
		g := groups[key]
		eg.Go(func() error {
			var selects []func(string) bool
			for _, i := range g.indexes {
				if f := requests[i].Created; f != nil {
					selects = append(selects, f)
				}
			}
			tags, images, err := c.scanRepo(ctx, g.repo, selects)
			for _, i := range g.indexes {
				resp := &responses[i]
				resp.Tags = slices.Clone(tags)
				resp.Err = err
				if f := requests[i].Created; f != nil {
					resp.Images = map[string]Image{}
					for tag, img := range images {
						if f(tag) {
							resp.Images[tag] = img
						}
					}
				}
			}
			return nil
		})
	}
	_ = eg.Wait()
	return responses
}

// scanRepo lists a repository's tags and reads the images of the tags any of
// selects wants.
func (c *Client) scanRepo(ctx context.Context, repo string, selects []func(string) bool) ([]string, map[string]Image, error) {
	tags, err := c.Tags(ctx, repo)
	if err != nil {
		return nil, nil, err
	}
	var wanted []string
	for _, tag := range tags {
		if slices.ContainsFunc(selects, func(f func(string) bool) bool { return f(tag) }) {
			wanted = append(wanted, tag)
		}
	}
	if len(wanted) == 0 {
		return tags, nil, nil
	}
	r, err := c.parseRepo(repo)
	if err != nil {
		return tags, nil, err
	}
	var (
		mu     sync.Mutex
		images = map[string]Image{}
		errs   = map[string]error{}
		eg     errgroup.Group
	)
	eg.SetLimit(c.cfg.Concurrency)
	for _, tag := range wanted {
		eg.Go(func() error {
			img, err := c.imageOf(ctx, r, tag)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[tag] = wrapError(err, r.RegistryStr(), repo, tag)
			} else {
				images[tag] = img
			}
			return nil
		})
	}
	_ = eg.Wait()
	// The first failure by tag name, so that the error is stable.
	for _, tag := range slices.Sorted(maps.Keys(errs)) {
		return tags, images, errs[tag]
	}
	return tags, images, nil
}
