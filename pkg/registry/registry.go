// Package registry lists image tags and image creation times in OCI
// registries, for the images flow: registry -> policy -> setters -> git.
//
// A Client is meant to live for one run. It asks each repository for its tags
// at most once, keeps tag lists (for a short TTL) and creation times (by
// digest, forever) on disk between runs, limits the request rate per host,
// retries 429 and 5xx answers with backoff, and counts its requests (Stats).
//
// Credentials come from the docker config (DOCKER_CONFIG or
// ~/.docker/config.json, and its credential helpers) and from Kubernetes image
// pull secrets. Errors name the registry and the image, say what to do, and
// never hold credentials.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
)

// Defaults for the zero fields of Config.
const (
	DefaultConcurrency       = 8
	DefaultRequestsPerSecond = 20
	DefaultBurst             = 10
	DefaultTries             = 4
	DefaultBackoff           = time.Second
	DefaultMaxRetryWait      = 30 * time.Second
	DefaultTagTTL            = 5 * time.Minute
	DefaultPlatform          = "linux/amd64"
	throttleFor              = time.Minute
)

// Config says how a Client talks to registries. The zero value is usable.
type Config struct {
	// Keychain finds credentials for a registry. nil means
	// authn.DefaultKeychain: DOCKER_CONFIG or ~/.docker/config.json and
	// the credential helpers it names.
	Keychain authn.Keychain
	// PullSecrets are Kubernetes image pull secrets whose credentials are
	// tried before Keychain's (see KeychainFromPullSecrets).
	PullSecrets []corev1.Secret
	// Insecure lists registry hosts ("host" or "host:port") spoken to in
	// plain HTTP. Loopback hosts (localhost, 127.0.0.1, [::1]) always are.
	Insecure []string

	// Concurrency bounds the HTTP requests in flight, and the repositories
	// a Scan works on at once. 0 means DefaultConcurrency.
	Concurrency int
	// RequestsPerSecond and Burst set each host's token bucket. On a 429
	// answer the host's rate is halved for a minute. 0 means the default;
	// a negative RequestsPerSecond means no limit.
	RequestsPerSecond float64
	Burst             int
	// Tries is how often a request is sent before a 429 or 5xx answer, or a
	// dropped connection, is given up on. 1 means no retries. 0 means
	// DefaultTries.
	Tries int
	// Backoff is the first wait before a retry; it doubles with each try.
	// A longer Retry-After from the registry wins, unless it is longer
	// than MaxRetryWait: then the answer is given up on at once.
	// 0 means DefaultBackoff, DefaultMaxRetryWait.
	Backoff      time.Duration
	MaxRetryWait time.Duration

	// CacheDir holds tag lists and creation times between runs. "" means
	// os.UserCacheDir()/kubectl-gitops/registry.
	CacheDir string
	// NoDiskCache turns the disk cache off; the Client still asks each
	// repository once.
	NoDiskCache bool
	// TagTTL is how long a cached tag list, and the digest a tag pointed
	// at, are trusted. 0 means DefaultTagTTL; negative means they are
	// always asked for again (and still written).
	TagTTL time.Duration

	// PageSize is the number of tags asked per page of a tag list (the n
	// of /v2/<repo>/tags/list); the pages a registry links with a Link
	// header are all followed, by go-containerregistry's remote.List.
	// 0 means go-containerregistry's default, 1000.
	PageSize int

	// Platform chooses the image of a multi-platform index whose creation
	// time counts: "os/arch[/variant]". When the index has none for it,
	// its first image is taken. "" means DefaultPlatform.
	Platform string

	// Transport sends the HTTP requests. nil means a clone of
	// remote.DefaultTransport (which honours HTTPS_PROXY and friends).
	Transport http.RoundTripper
	// UserAgent is sent with requests; "" means kubectl-gitops/<version>.
	UserAgent string

	now         func() time.Time // for tests
	throttleFor time.Duration    // for tests
}

// Client lists tags and creation times. It is safe for concurrent use.
type Client struct {
	cfg      Config
	platform v1.Platform
	insecure map[string]bool
	puller   *remote.Puller
	keychain authn.Keychain
	stack    *stack
	cache    *diskCache

	creds   memo[string]
	tags    memo[[]string]
	digests memo[string]
	images  memo[createdEntry]
}

// Image is what a tag points at.
type Image struct {
	// Digest is the tag's manifest digest: for a multi-platform image,
	// the index's.
	Digest string
	// Created is the creation time in the image's config; zero when the
	// image has none. For an index, that of the image chosen by platform.
	Created time.Time
	// Platform is the platform chosen in an index, "" for a plain image.
	Platform string
}

// New returns a Client. The error is about the configuration only.
func New(cfg Config) (*Client, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Tries <= 0 {
		cfg.Tries = DefaultTries
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = DefaultMaxRetryWait
	}
	if cfg.TagTTL == 0 {
		cfg.TagTTL = DefaultTagTTL
	}
	if cfg.Platform == "" {
		cfg.Platform = DefaultPlatform
	}
	if cfg.Keychain == nil {
		cfg.Keychain = authn.DefaultKeychain
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "kubectl-gitops/" + version.Get().Version
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.throttleFor == 0 {
		cfg.throttleFor = throttleFor
	}
	platform, err := v1.ParsePlatform(cfg.Platform)
	if err != nil {
		return nil, fmt.Errorf("registry platform %q: %w (want os/arch, e.g. linux/arm64)", cfg.Platform, err)
	}
	base := cfg.Transport
	if base == nil {
		if t, ok := remote.DefaultTransport.(*http.Transport); ok {
			base = t.Clone()
		} else {
			base = remote.DefaultTransport
		}
	}

	c := &Client{cfg: cfg, platform: *platform, insecure: map[string]bool{}}
	for _, h := range cfg.Insecure {
		c.insecure[strings.ToLower(strings.TrimSpace(h))] = true
	}
	if !cfg.NoDiskCache {
		dir := cfg.CacheDir
		if dir == "" {
			if d, err := os.UserCacheDir(); err == nil {
				dir = filepath.Join(d, "kubectl-gitops", "registry")
			}
		}
		if dir != "" {
			c.cache = &diskCache{dir: dir}
		}
	}
	c.stack = &stack{
		base:       base,
		insecure:   c.isInsecure,
		limiters:   newHostLimiters(cfg.RequestsPerSecond, cfg.Burst, cfg.throttleFor, cfg.now),
		slots:      make(chan struct{}, cfg.Concurrency),
		tries:      cfg.Tries,
		backoff:    cfg.Backoff,
		maxBackoff: cfg.MaxRetryWait,
		counter:    newCounter(),
		pings:      map[string]*cachedPing{},
	}
	keychain := cfg.Keychain
	if len(cfg.PullSecrets) > 0 {
		keychain = authn.NewMultiKeychain(KeychainFromPullSecrets(cfg.PullSecrets), keychain)
	}
	c.keychain = keychain
	opts := []remote.Option{
		remote.WithTransport(c.stack),
		remote.WithAuthFromKeychain(keychain),
		remote.WithUserAgent(cfg.UserAgent),
		remote.WithPlatform(*platform),
		// Retries happen in c.transport, which knows about rate limits.
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(error) bool { return false }),
	}
	if cfg.PageSize > 0 {
		opts = append(opts, remote.WithPageSize(cfg.PageSize))
	}
	c.puller, err = remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Stats returns the requests sent so far.
func (c *Client) Stats() Stats { return c.stack.counter.snapshot() }

func (c *Client) isInsecure(host string) bool {
	return c.insecure[strings.ToLower(host)] || isLoopback(host)
}

// parseRepo reads an image repository such as "nginx", "ghcr.io/org/app" or
// "localhost:5000/app". A tag or digest on it is ignored.
func (c *Client) parseRepo(repo string) (name.Repository, error) {
	ref, err := name.ParseReference(repo)
	if err != nil {
		return name.Repository{}, fmt.Errorf("invalid image name %q: %w", repo, err)
	}
	r := ref.Context()
	if c.isInsecure(r.RegistryStr()) {
		ref, err = name.ParseReference(repo, name.Insecure)
		if err != nil {
			return name.Repository{}, fmt.Errorf("invalid image name %q: %w", repo, err)
		}
		r = ref.Context()
	}
	return r, nil
}

// Tags lists the tags of a repository, sorted by name. Within the tag TTL the disk cache
// answers; and a Client asks each repository at most once.
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := c.parseRepo(repo)
	if err != nil {
		return nil, err
	}
	tags, err := c.tagsOf(ctx, r)
	if err != nil {
		return nil, wrapError(err, r.RegistryStr(), repo, "")
	}
	return slices.Clone(tags), nil
}

// Digest returns the manifest digest a tag points at (for a multi-platform
// image, the index's), such as "sha256:...".
func (c *Client) Digest(ctx context.Context, repo, tag string) (string, error) {
	r, err := c.parseRepo(repo)
	if err != nil {
		return "", err
	}
	d, err := c.digestOf(ctx, r, tag)
	if err != nil {
		return "", wrapError(err, r.RegistryStr(), repo, tag)
	}
	return d, nil
}

// Created returns the creation time of a tag's image and the tag's digest.
// For a multi-platform index it is the creation time of the image for the
// configured platform (linux/amd64 by default), else of the index's first
// image: arm-only images work. Creation times are cached by digest forever.
func (c *Client) Created(ctx context.Context, repo, tag string) (time.Time, string, error) {
	r, err := c.parseRepo(repo)
	if err != nil {
		return time.Time{}, "", err
	}
	img, err := c.imageOf(ctx, r, tag)
	if err != nil {
		return time.Time{}, "", wrapError(err, r.RegistryStr(), repo, tag)
	}
	return img.Created, img.Digest, nil
}

func (c *Client) fresh(fetched time.Time) bool {
	age := c.cfg.now().Sub(fetched)
	return c.cfg.TagTTL > 0 && age >= 0 && age < c.cfg.TagTTL
}

func (c *Client) tagsOf(ctx context.Context, r name.Repository) ([]string, error) {
	return c.tags.do(r.Name(), func() ([]string, error) {
		cache := c.cacheFor(ctx, r)
		var e tagsEntry
		if cache.read("tags", r.Name(), &e) && e.Repo == r.Name() && c.fresh(e.Fetched) {
			return e.Tags, nil
		}
		tags, err := c.puller.List(ctx, r)
		if err != nil {
			return nil, err
		}
		slices.Sort(tags)
		tags = slices.Compact(tags)
		cache.write("tags", r.Name(), tagsEntry{Repo: r.Name(), Fetched: c.cfg.now(), Tags: tags})
		return tags, nil
	})
}

// CurrentDigest is Digest asked of the registry itself, never of the disk
// cache (which it updates): what a tag points at now, for re-pinning a
// digest when a tag is pushed again with new content. A Client asks at
// most once per tag.
func (c *Client) CurrentDigest(ctx context.Context, repo, tag string) (string, error) {
	r, err := c.parseRepo(repo)
	if err != nil {
		return "", err
	}
	d, err := c.lookupDigest(ctx, r, tag, true)
	if err != nil {
		return "", wrapError(err, r.RegistryStr(), repo, tag)
	}
	return d, nil
}

func (c *Client) digestOf(ctx context.Context, r name.Repository, tag string) (string, error) {
	return c.lookupDigest(ctx, r, tag, false)
}

func (c *Client) lookupDigest(ctx context.Context, r name.Repository, tag string, current bool) (string, error) {
	ref := r.Tag(tag)
	key := ref.Name()
	if current {
		key = "current " + key
	}
	return c.digests.do(key, func() (string, error) {
		cache := c.cacheFor(ctx, r)
		var e digestEntry
		if !current && cache.read("digests", ref.Name(), &e) && e.Ref == ref.Name() && c.fresh(e.Fetched) {
			return e.Digest, nil
		}
		var digest string
		desc, err := c.puller.Head(ctx, ref)
		var te *transport.Error
		switch {
		case err == nil:
			digest = desc.Digest.String()
		case errors.As(err, &te) || ctx.Err() != nil || kindOf(err) != Failed:
			return "", err
		default:
			// Some registries answer HEAD without the digest header.
			d, gerr := c.puller.Get(ctx, ref)
			if gerr != nil {
				return "", gerr
			}
			digest = d.Digest.String()
		}
		cache.write("digests", ref.Name(), digestEntry{Ref: ref.Name(), Fetched: c.cfg.now(), Digest: digest})
		return digest, nil
	})
}

// cacheFor returns the disk cache of what r's registry answered to the
// credential the keychain gives for r: answers are kept apart by the
// credential that fetched them, so that a run with other credentials, or
// none, is never answered with what only these could see. When the
// keychain fails, no cache (the request then fails with the keychain's
// error). Creation times stay cached by digest alone: a run reaches them
// only through a digest its own credential fetched.
func (c *Client) cacheFor(ctx context.Context, r name.Repository) *diskCache {
	if c.cache == nil {
		return nil
	}
	cred, err := c.credentialKey(ctx, r)
	if err != nil {
		return nil
	}
	return c.cache.keyed(cred)
}

// credentialKey names the credential the keychain gives for r without
// holding it: "anonymous", or "sha256:" and the SHA-256 of the
// authorization (user name, password, tokens).
func (c *Client) credentialKey(ctx context.Context, r name.Repository) (string, error) {
	return c.creds.do(r.Name(), func() (string, error) {
		auth, err := authn.Resolve(ctx, c.keychain, r)
		if err != nil {
			return "", err
		}
		if auth == authn.Anonymous {
			return "anonymous", nil
		}
		cfg, err := authn.Authorization(ctx, auth)
		if err != nil {
			return "", err
		}
		if cfg == nil || *cfg == (authn.AuthConfig{}) {
			return "anonymous", nil
		}
		return credentialSum(*cfg), nil
	})
}

func (c *Client) imageOf(ctx context.Context, r name.Repository, tag string) (Image, error) {
	digest, err := c.digestOf(ctx, r, tag)
	if err != nil {
		return Image{}, err
	}
	key := digest + "|" + c.platform.String()
	e, err := c.images.do(key, func() (createdEntry, error) {
		var e createdEntry
		if c.cache.read("created", key, &e) && e.Digest == digest {
			return e, nil
		}
		e, err := c.fetchCreated(ctx, r, digest)
		if err != nil {
			return e, err
		}
		c.cache.write("created", key, e)
		return e, nil
	})
	if err != nil {
		return Image{}, err
	}
	return Image{Digest: digest, Created: e.Created, Platform: e.Platform}, nil
}

// fetchCreated reads the config of the image with the digest, choosing a
// platform's image in an index.
func (c *Client) fetchCreated(ctx context.Context, r name.Repository, digest string) (createdEntry, error) {
	e := createdEntry{Digest: digest}
	desc, err := c.puller.Get(ctx, r.Digest(digest))
	if err != nil {
		return e, err
	}
	for depth := 0; desc.MediaType.IsIndex(); depth++ {
		if depth == 2 {
			return e, fmt.Errorf("manifest %s: indexes nested too deep", digest)
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			return e, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return e, err
		}
		child, ok := choosePlatform(im.Manifests, c.platform)
		if !ok {
			return e, fmt.Errorf("index %s lists no image", desc.Digest)
		}
		e.Image = child.Digest.String()
		if child.Platform != nil {
			e.Platform = child.Platform.String()
		}
		if desc, err = c.puller.Get(ctx, r.Digest(child.Digest.String())); err != nil {
			return e, err
		}
	}
	if desc.MediaType.IsSchema1() {
		return e, fmt.Errorf("manifest %s is Docker schema 1, which is not supported: push the image again with a current tool", digest)
	}
	img, err := desc.Image()
	if err != nil {
		return e, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return e, fmt.Errorf("reading the config of %s (is it a container image?): %w", digest, err)
	}
	e.Created = cf.Created.UTC()
	return e, nil
}

// choosePlatform picks want's manifest from an index, else the first image
// that is not an attestation. (Flux v1 took linux/amd64 only, so arm-only
// images failed: flux#3066.)
func choosePlatform(manifests []v1.Descriptor, want v1.Platform) (v1.Descriptor, bool) {
	usable := func(m v1.Descriptor) bool {
		if !m.MediaType.IsImage() && !m.MediaType.IsIndex() {
			return false
		}
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			return false
		}
		return m.Platform == nil || m.Platform.OS != "unknown"
	}
	for _, m := range manifests {
		if usable(m) && m.Platform != nil && m.Platform.Satisfies(want) {
			return m, true
		}
	}
	for _, m := range manifests {
		if usable(m) {
			return m, true
		}
	}
	return v1.Descriptor{}, false
}

// memo runs a function once per key for the life of a Client and remembers
// its result, errors included; callers of the same key wait for the first.
// A canceled context is not remembered.
type memo[V any] struct {
	mu sync.Mutex
	m  map[string]*memoEntry[V]
}

type memoEntry[V any] struct {
	mu   sync.Mutex
	done bool
	v    V
	err  error
}

func (m *memo[V]) do(key string, f func() (V, error)) (V, error) {
	m.mu.Lock()
	if m.m == nil {
		m.m = map[string]*memoEntry[V]{}
	}
	e := m.m[key]
	if e == nil {
		e = &memoEntry[V]{}
		m.m[key] = e
	}
	m.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return e.v, e.err
	}
	v, err := f()
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return v, err
	}
	e.done, e.v, e.err = true, v, err
	return v, err
}
