package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// TestSecurityCacheKeyedByCredential: what a registry told one credential is
// never told to a run with another credential, or none. A run with the
// credentials lists tags and reads digests into the shared cache; runs with
// no credentials, or a wrong password, using the same cache directory, are
// refused by the registry as they would be without a cache. The cache files
// hold neither the password nor the docker config's encoding of it.
func TestSecurityCacheKeyedByCredential(t *testing.T) {
	const user, pass = "gitops", "cache-pa55-w0rd"
	host := startDistribution(t, user, pass)
	p := newPusher(t, host, &authn.Basic{Username: user, Password: pass})
	for i, tag := range []string{"1.0.0", "1.1.0"} {
		p.pushImage("team/private", tag, t0.Add(time.Duration(i)*time.Hour))
	}
	repo := host + "/team/private"
	ctx := context.Background()
	cacheDir := t.TempDir()
	newRun := func(creds map[string][2]string) *Client {
		dockerConfig(t, creds)
		return newClient(t, Config{Keychain: authn.DefaultKeychain, CacheDir: cacheDir})
	}

	// With the credentials: tags, a digest and a creation time, cached.
	c := newRun(map[string][2]string{host: {user, pass}})
	tags, err := c.Tags(ctx, repo)
	if err != nil || !slices.Equal(tags, []string{"1.0.0", "1.1.0"}) {
		t.Fatalf("Tags with credentials = %q, %v", tags, err)
	}
	if _, _, err := c.Created(ctx, repo, "1.1.0"); err != nil {
		t.Fatalf("Created with credentials: %v", err)
	}

	// Without credentials, and with a wrong password: refused by the
	// registry, not answered from the cache.
	for run, creds := range map[string]map[string][2]string{"no credentials": nil, "a wrong password": {host: {user, "not-the-password"}}} {
		c := newRun(creds)
		for what, call := range map[string]func() error{
			"Tags":    func() error { _, err := c.Tags(ctx, repo); return err },
			"Digest":  func() error { _, err := c.Digest(ctx, repo, "1.1.0"); return err },
			"Created": func() error { _, _, err := c.Created(ctx, repo, "1.1.0"); return err },
		} {
			err := call()
			var re *Error
			if !errors.As(err, &re) || re.Kind != Denied {
				t.Errorf("%s with %s: error %v, want the registry's refusal (Denied)", what, run, err)
			}
		}
		if s := c.Stats(); s.Requests == 0 {
			t.Errorf("the run with %s sent no request: it was answered from the cache", run)
		}
	}

	// The same credentials again: answered from the cache.
	c = newRun(map[string][2]string{host: {user, pass}})
	if tags, err := c.Tags(ctx, repo); err != nil || len(tags) != 2 {
		t.Fatalf("Tags from the cache = %q, %v", tags, err)
	}
	if _, _, err := c.Created(ctx, repo, "1.1.0"); err != nil {
		t.Fatalf("Created from the cache: %v", err)
	}
	if s := c.Stats(); s.Requests != 0 {
		t.Errorf("a run with the same credentials sent %d requests, want 0 (cached)", s.Requests)
	}

	// No credential on disk, in any form.
	forms := []string{pass, base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)), base64.StdEncoding.EncodeToString([]byte(pass))}
	files := 0
	err = filepath.WalkDir(cacheDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, f := range forms {
			if strings.Contains(string(b), f) || strings.Contains(path, f) {
				t.Errorf("%s holds the credential (%q)", path, f)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("nothing was cached: the test proves nothing")
	}
}

// The key of a credential is a digest of all its fields, different for
// each, and never one of them.
func TestCredentialSum(t *testing.T) {
	seen := map[string]authn.AuthConfig{}
	for _, cfg := range []authn.AuthConfig{
		{Username: "a", Password: "b"},
		{Username: "a", Password: "c"},
		{Username: "ab", Password: ""},
		{Username: "", Password: "ab"},
		{Auth: "YTpi"},
		{IdentityToken: "tok"},
		{RegistryToken: "tok"},
	} {
		k := credentialSum(cfg)
		if prev, ok := seen[k]; ok {
			t.Errorf("%+v and %+v have the same key %s", prev, cfg, k)
		}
		seen[k] = cfg
		if !strings.HasPrefix(k, "sha256:") || len(k) != len("sha256:")+64 {
			t.Errorf("key %q is not a sha256", k)
		}
		if credentialSum(cfg) != k {
			t.Errorf("key of %+v changes", cfg)
		}
	}
}
