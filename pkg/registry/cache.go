package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// diskCache keeps what the registries said between runs, as small JSON files:
//
//	tags/<key>.json     a repository's tags, trusted for the tag TTL
//	digests/<key>.json  the digest a tag pointed at, trusted for the tag TTL
//	created/<key>.json  an image's creation time by manifest digest, forever
//
// Keys are sha256 sums of the names. Writes go to a temporary file renamed
// into place, so concurrent runs never read half a file. Any read problem is
// a miss, and write problems are ignored: the cache only saves requests.
type diskCache struct {
	dir string
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
