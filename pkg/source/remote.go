package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

const (
	// remoteName is the name of the remote in cached clones.
	remoteName = "origin"
	// cacheSubdir is where clones go under os.UserCacheDir().
	cacheSubdir = "kubectl-gitops/repos"
)

// fetchSpecs mirror the remote's branches and tags as the cached clone's own:
// a cached clone is a bare mirror, as "git clone --bare" makes, so a
// branch "main" is refs/heads/main in it. The "+" follows force pushes.
var fetchSpecs = []config.RefSpec{
	"+refs/heads/*:refs/heads/*",
	"+refs/tags/*:refs/tags/*",
}

// cacheKey returns the name of the directory, under Spec.CacheDir, that holds
// the clone of repo: the first 16 hex digits of the sha256 of the redacted
// URL, so that the same repository reached with different credentials shares
// one clone.
func cacheKey(repo string) string {
	sum := sha256.Sum256([]byte(Redact(repo)))
	return hex.EncodeToString(sum[:])[:16]
}

// DefaultCacheDir returns os.UserCacheDir()/kubectl-gitops/repos.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory for clones of remote repositories: %w; set XDG_CACHE_HOME or pass a cache directory", err)
	}
	return filepath.Join(dir, filepath.FromSlash(cacheSubdir)), nil
}

// openRemote brings the cached clone of spec.Repo up to date, cloning it
// first if needed, and opens it.
func openRemote(ctx context.Context, spec Spec) (*Repository, error) {
	u, err := parseRemote(spec.Repo)
	if err != nil {
		return nil, err
	}
	cacheDir := spec.CacheDir
	if cacheDir == "" {
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the cache directory %s: %w", cacheDir, err)
	}
	key := cacheKey(spec.Repo)
	dir := filepath.Join(cacheDir, key)

	auth, err := newAuth(u, spec.Auth)
	if err != nil {
		return nil, err
	}
	defer auth.close()

	// One process at a time fetches into a clone; readers of existing
	// objects need no lock, since a fetch only adds objects.
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()

	r := &Repository{spec: spec, name: u.redacted, remote: u, dir: dir}
	_, statErr := os.Stat(dir)
	switch {
	case statErr == nil:
		if r.repo, r.store, err = openStore(osfs.New(dir)); err != nil {
			return nil, corruptCacheErr(dir, fmt.Errorf("opening the cached clone of %s: %w", u.redacted, err))
		}
		if err := r.update(ctx, auth); err != nil {
			return nil, err
		}
	case errors.Is(statErr, fs.ErrNotExist):
		if err := r.clone(ctx, auth, cacheDir, key); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("reading the cache directory: %w", statErr)
	}
	return r, nil
}

// clone makes a new cached clone: it fetches into a temporary directory and
// renames it into place only when complete, so that an interrupted clone
// leaves nothing that looks like a clone. The caller holds the lock.
func (r *Repository) clone(ctx context.Context, auth *authMethod, cacheDir, key string) error {
	// Leftovers of clones interrupted by a crash.
	if old, _ := filepath.Glob(filepath.Join(cacheDir, key+".tmp-*")); len(old) > 0 {
		for _, o := range old {
			_ = os.RemoveAll(o)
		}
	}
	tmp, err := os.MkdirTemp(cacheDir, key+".tmp-")
	if err != nil {
		return fmt.Errorf("cloning %s: %w", r.name, err)
	}
	defer func() { _ = os.RemoveAll(tmp) }() // a no-op once renamed

	repo, err := git.PlainInit(tmp, true)
	if err != nil {
		return fmt.Errorf("cloning %s: creating %s: %w", r.name, tmp, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{r.remote.gitURL}, // never the credentials
		Fetch: fetchSpecs,
	}); err != nil {
		return fmt.Errorf("cloning %s: %w", r.name, err)
	}
	r.repo = repo
	if err := r.update(ctx, auth); err != nil {
		return err
	}
	if err := os.Rename(tmp, r.dir); err != nil {
		return fmt.Errorf("cloning %s: moving the clone into %s: %w", r.name, r.dir, err)
	}
	if r.repo, r.store, err = openStore(osfs.New(r.dir)); err != nil {
		return corruptCacheErr(r.dir, fmt.Errorf("opening the new clone of %s: %w", r.name, err))
	}
	return nil
}

// update lists the remote's refs and fetches only if they differ from the
// clone's: an unchanged remote costs one round trip, as "git fetch" does.
// It then points HEAD at the remote's default branch. The caller holds the
// lock.
func (r *Repository) update(ctx context.Context, auth *authMethod) error {
	remote, err := r.repo.Remote(remoteName)
	if err != nil {
		return corruptCacheErr(r.dir, fmt.Errorf("reading the cached clone of %s: %w", r.name, err))
	}
	advertised, err := remote.ListContext(ctx, &git.ListOptions{
		Auth:            auth.method,
		InsecureSkipTLS: r.spec.Auth.InsecureSkipTLSVerify,
		CABundle:        r.spec.Auth.CABundle,
	})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil // Snapshot says there is nothing to read
	}
	if err != nil {
		return transportErr(r.remote, auth, err)
	}

	want := map[plumbing.ReferenceName]plumbing.Hash{}
	var head *plumbing.Reference
	for _, ref := range advertised {
		n := ref.Name()
		switch {
		case n == plumbing.HEAD:
			head = ref
		case ref.Type() == plumbing.HashReference && (n.IsBranch() || n.IsTag()) && !strings.HasSuffix(string(n), "^{}"):
			want[n] = ref.Hash()
		}
	}
	have, err := r.mirroredRefs()
	if err != nil {
		return err
	}
	if !sameRefs(want, have) {
		err := r.repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName:      remoteName,
			RemoteURL:       r.remote.gitURL,
			RefSpecs:        fetchSpecs,
			Auth:            auth.method,
			Tags:            git.NoTags, // fetchSpecs has them all
			Prune:           true,
			Force:           true,
			InsecureSkipTLS: r.spec.Auth.InsecureSkipTLSVerify,
			CABundle:        r.spec.Auth.CABundle,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			if isTransportErr(err) {
				return transportErr(r.remote, auth, err)
			}
			return fmt.Errorf("fetching %s into its cached clone: %w; if this persists, the clone may be corrupt: remove it (rm -rf %q) to clone afresh", r.name, err, r.dir)
		}
	}

	// HEAD follows the remote's default branch.
	if head != nil && head.Type() == plumbing.SymbolicReference {
		cur, err := r.repo.Storer.Reference(plumbing.HEAD)
		if err != nil || cur.Type() != plumbing.SymbolicReference || cur.Target() != head.Target() {
			if err := r.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, head.Target())); err != nil {
				return corruptCacheErr(r.dir, fmt.Errorf("setting HEAD of the cached clone of %s: %w", r.name, err))
			}
		}
	}
	return nil
}

// mirroredRefs returns the clone's branches and tags.
func (r *Repository) mirroredRefs() (map[plumbing.ReferenceName]plumbing.Hash, error) {
	have := map[plumbing.ReferenceName]plumbing.Hash{}
	iter, err := r.repo.Storer.IterReferences()
	if err != nil {
		return nil, corruptCacheErr(r.dir, fmt.Errorf("reading the refs of the cached clone of %s: %w", r.name, err))
	}
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if n := ref.Name(); ref.Type() == plumbing.HashReference && (n.IsBranch() || n.IsTag()) {
			have[n] = ref.Hash()
		}
		return nil
	})
	if err != nil {
		return nil, corruptCacheErr(r.dir, fmt.Errorf("reading the refs of the cached clone of %s: %w", r.name, err))
	}
	return have, nil
}

func sameRefs(a, b map[plumbing.ReferenceName]plumbing.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for n, h := range a {
		if b[n] != h {
			return false
		}
	}
	return true
}
