package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// diskCache keeps what the registries said between runs, as small JSON files:
//
//	tags/<key>.json     a repository's tags, trusted for the tag TTL
//	digests/<key>.json  the digest a tag pointed at, trusted for the tag TTL
//	created/<key>.json  an image's creation time by manifest digest, forever
//
// Keys are sha256 sums of the names; tags and digests are also keyed by the
// credential that fetched them (see Client.cacheFor), by a SHA-256 of it:
// the credential itself is never written. Writes go to a temporary file
// renamed into place, so concurrent runs never read half a file. Any read
// problem is a miss, and write problems are ignored: the cache only saves
// requests.
type diskCache struct {
	dir string
	// credential keys the entries: "" for none (creation times),
	// "anonymous" or "sha256:..." (see credentialSum).
	credential string
}

// keyed returns the cache of the entries fetched with the credential.
func (c *diskCache) keyed(credential string) *diskCache {
	if c == nil {
		return nil
	}
	return &diskCache{dir: c.dir, credential: credential}
}

// credentialSum is the key of a credential: the SHA-256 of its fields,
// never the fields.
func credentialSum(cfg authn.AuthConfig) string {
	h := sha256.New()
	h.Write([]byte("kubectl-gitops registry credential v1"))
	for _, f := range []string{cfg.Username, cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{0})
		h.Write([]byte(f))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

type tagsEntry struct {
	Repo    string    `json:"repo"`
	Fetched time.Time `json:"fetched"`
	Tags    []string  `json:"tags"`
}

type digestEntry struct {
	Ref     string    `json:"ref"`
	Fetched time.Time `json:"fetched"`
	Digest  string    `json:"digest"`
}

type createdEntry struct {
	Digest   string    `json:"digest"`
	Platform string    `json:"platform,omitempty"`
	Image    string    `json:"image,omitempty"` // the platform's manifest, for an index
	Created  time.Time `json:"created"`
}

func (c *diskCache) path(kind, name string) string {
	if c.credential != "" {
		name = c.credential + "\x00" + name
	}
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(c.dir, kind, hex.EncodeToString(sum[:16])+".json")
}

func (c *diskCache) read(kind, name string, v any) bool {
	if c == nil {
		return false
	}
	b, err := os.ReadFile(c.path(kind, name))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func (c *diskCache) write(kind, name string, v any) {
	if c == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	p := c.path(kind, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		return
	}
	if err := os.Rename(f.Name(), p); err != nil {
		_ = os.Remove(f.Name())
	}
}
