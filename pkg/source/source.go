// Package source is kubectl-gitops' one way in for git: it opens a repository
// given as a local path or a URL, resolves a ref to a commit and exposes that
// commit's tree as a read-only fs.FS. Repository.Update commits edits of
// files to a branch, and pushes them to a remote one.
//
// Only committed content is ever read. For a local repository the object
// store is read in place and the working tree is never looked at, so
// uncommitted and untracked files do not exist for a Snapshot. A remote
// repository is cloned once, bare, into a cache directory and fetched
// incrementally on later opens.
//
// Everything that goes out (Snapshot.Repo, errors) carries the repository
// address with its credentials removed (see Redact).
package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Spec says which repository and which commit to read.
type Spec struct {
	// Repo is a local path or a URL. A local path may point at a work tree,
	// any directory inside it, its .git directory or a bare repository. URLs:
	// https://, http://, ssh://, file:// and git's scp-like
	// "git@host:org/repo.git". Credentials in a URL are used, but never
	// stored in the cache nor printed.
	Repo string
	// Ref is a branch, a tag, or a full or short commit sha. "" means HEAD:
	// the current HEAD of a local repository, the default branch of a
	// remote one. See Repository.Snapshot for the order of lookups.
	Ref string
	// Auth holds the credentials and trust settings for remote repositories.
	Auth Auth
	// CacheDir is where clones of remote repositories live; "" means
	// os.UserCacheDir()/kubectl-gitops/repos.
	CacheDir string
}

// Auth holds credentials and trust settings for remote repositories. The zero
// value uses no HTTP credentials, the SSH agent or the default SSH keys, and
// checks SSH host keys against known_hosts.
type Auth struct {
	// Username and Password are HTTP(S) basic-auth credentials. A token
	// goes in Password; Username then defaults to "git". When both are
	// empty, credentials in the URL are used.
	Username, Password string
	// SSHKeyFile is a private key file. "" means the keys of the SSH agent
	// (SSH_AUTH_SOCK), then ~/.ssh/id_ed25519, id_ecdsa and id_rsa.
	SSHKeyFile string
	// SSHKeyPassphrase decrypts the SSH key.
	SSHKeyPassphrase string
	// KnownHostsFile lists the trusted SSH host keys. "" means the files in
	// SSH_KNOWN_HOSTS, ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts.
	// Host keys are always checked unless InsecureIgnoreHostKey is set.
	KnownHostsFile        string
	InsecureIgnoreHostKey bool
	// InsecureSkipTLSVerify skips the HTTPS certificate check.
	InsecureSkipTLSVerify bool
	// CABundle is PEM certificates trusted for HTTPS on top of the system's.
	CABundle []byte
}

// Snapshot is one commit of a repository, read-only.
type Snapshot struct {
	// Repo is the repository as given, with any credentials removed: safe
	// to print and record.
	Repo string
	// Ref is the full name of the reference that was resolved, such as
	// "refs/heads/main" or "refs/tags/v1.2.0"; "" when the commit was HEAD
	// or was given by its sha.
	Ref string
	// Revision is the full commit sha.
	Revision string
	// Subject is the first line of the commit message.
	Subject string
	// FS is the commit's tree, read lazily from the object store, never
	// from a work tree. It implements fs.ReadDirFS, fs.ReadFileFS,
	// fs.StatFS and fs.ReadLinkFS and is safe for concurrent use.
	//
	// It looks like a checkout: files have mode 0644, or 0755 when
	// executable; directories fs.ModeDir|0755; submodules are empty
	// directories. Symbolic links are listed (ReadDir, Lstat) as
	// fs.ModeSymlink and followed by Open, Stat, ReadFile and ReadDir when
	// their target stays inside the tree; an absolute link, one that
	// climbs out of the tree, or a loop gives fs.ErrNotExist. Every
	// ModTime is the commit's committer time.
	FS fs.FS
}

// Open opens spec.Repo, bringing a remote repository's cached clone up to
// date, and returns the commit spec.Ref names.
func Open(ctx context.Context, spec Spec) (*Snapshot, error) {
	r, err := OpenRepository(ctx, spec)
	if err != nil {
		return nil, err
	}
	return r.Snapshot(spec.Ref)
}

// Repository is an opened repository: a local one read in place, or the bare
// clone of a remote one kept in the cache. Snapshots taken from it share its
// object store. It is safe for concurrent use.
type Repository struct {
	spec     Spec
	name     string     // the repository as given, redacted
	remote   *remoteURL // nil for a local repository
	dir      string     // the git directory (a cached clone for a remote)
	worktree string     // a local repository's work tree, if opened through it
	repo     *git.Repository
	store    *objectStore // repo's object store, shared with the snapshots
}

// OpenRepository opens spec.Repo. A local path is opened in place. A URL is
// cloned into spec.CacheDir on first use and fetched (all branches and tags,
// pruning deleted ones) on every later open. spec.Ref is not used.
func OpenRepository(ctx context.Context, spec Spec) (*Repository, error) {
	if strings.TrimSpace(spec.Repo) == "" {
		return nil, errors.New("no repository given: pass a local path or a URL")
	}
	if isRemote(spec.Repo) {
		return openRemote(ctx, spec)
	}
	return openLocal(spec)
}

// Name returns the repository as given, with any credentials removed.
func (r *Repository) Name() string { return r.name }

// Snapshot resolves ref to a commit and returns it. ref is looked up as:
//  1. "" or "HEAD": HEAD (for a remote, its default branch);
//  2. a full commit sha, or an unambiguous short one (4 or more hex digits);
//  3. a full reference name ("refs/...");
//  4. a branch: refs/heads/<ref>, then the remote-tracking refs/remotes/<ref>
//     and refs/remotes/origin/<ref> (local repositories have those; a cached
//     clone keeps the remote's branches as its own refs/heads);
//  5. a tag: refs/tags/<ref>, an annotated tag peeled to its commit.
//
// A short sha that is also a branch or tag name with a different commit is an
// error, not a guess.
func (r *Repository) Snapshot(ref string) (*Snapshot, error) {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()

	hash, refName, err := r.resolve(ref)
	if err != nil {
		return nil, err
	}
	return r.snapshot(hash, refName)
}

// snapshot returns the commit hash, found through refName, as a Snapshot.
// The caller holds r.store.mu.
func (r *Repository) snapshot(hash plumbing.Hash, refName plumbing.ReferenceName) (*Snapshot, error) {
	commit, err := object.GetCommit(r.repo.Storer, hash)
	if err != nil {
		return nil, r.storeErr(fmt.Errorf("reading commit %s of %s: %w", hash, r.name, err))
	}
	if _, err := object.GetTree(r.repo.Storer, commit.TreeHash); err != nil {
		return nil, r.storeErr(fmt.Errorf("reading the tree of commit %s of %s: %w", hash, r.name, err))
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(commit.Message), "\n")
	return &Snapshot{
		Repo:     r.name,
		Ref:      string(refName),
		Revision: hash.String(),
		Subject:  strings.TrimSpace(subject),
		FS:       newTreeFS(r.store, commit.TreeHash, commit.Committer.When),
	}, nil
}

// maxOpenPacks is the number of pack files an object store keeps open.
// Without it go-git opens and closes a pack file for every object read.
const maxOpenPacks = 16

// objectStore is the object store of a Repository, shared by its snapshots.
// go-git does not make it safe for concurrent use, so mu guards it. It keeps
// up to maxOpenPacks pack files open, and closes them once neither the
// Repository nor any of its snapshots can be reached.
type objectStore struct {
	mu sync.Mutex
	s  storage.Storer
}

// openStore opens the repository whose git directory fsys is, reading
// objects only: it has no work tree.
func openStore(fsys billy.Filesystem) (*git.Repository, *objectStore, error) {
	st := filesystem.NewStorageWithOptions(fsys, cache.NewObjectLRUDefault(), filesystem.Options{MaxOpenDescriptors: maxOpenPacks})
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, nil, err
	}
	o := &objectStore{s: st}
	runtime.AddCleanup(o, func(st *filesystem.Storage) { _ = st.Close() }, st)
	return repo, o, nil
}

// storeErr adds the way out to an error reading the object store: for a
// cached clone, removing it.
func (r *Repository) storeErr(err error) error {
	if r.remote == nil || errors.Is(err, ErrRefNotFound) {
		return err
	}
	return corruptCacheErr(r.dir, err)
}

func corruptCacheErr(dir string, err error) error {
	return fmt.Errorf("%w: the cached clone %s looks corrupt; remove it (rm -rf %q) and run again to clone afresh", err, dir, dir)
}

// ErrRefNotFound is matched (errors.Is) by the error of a ref that names no
// commit, branch or tag, and of a HEAD without commits. It is go-git's
// plumbing.ErrReferenceNotFound.
var ErrRefNotFound = plumbing.ErrReferenceNotFound
