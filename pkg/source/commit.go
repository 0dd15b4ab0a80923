package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Change is what an edit produces: new content for files of the commit it
// edited, and the message of the commit that records them.
type Change struct {
	// Files maps paths, slash-separated and relative to the repository
	// root, to their new content. Only files the commit has are edited: a
	// path that is missing, a directory, a symbolic link or a submodule is
	// an error. A file whose new content equals its old one is no change.
	Files map[string][]byte
	// Message is the commit message; a final newline is added if missing.
	Message string
}

// EditFunc computes the change to commit on snap, the head of the branch.
// When the branch moves before the change lands, it is called again with
// the new head, so it must depend on snap only. A nil Change, or one
// without Files, means there is nothing to do.
type EditFunc func(snap *Snapshot) (*Change, error)

// CommitResult says what Update did.
type CommitResult struct {
	// Revision is the new commit; "" when the edit changed nothing.
	Revision string
	// Parent is the head of the branch that the edit saw last: the new
	// commit's parent, or the commit that needed no change.
	Parent string
	// Branch is the branch committed to, such as "main".
	Branch string
	// Pushed says that the commit was pushed to the remote repository.
	// Commits to local repositories are not pushed.
	Pushed bool
	// Attempts is the number of times the edit was called: more than one
	// when the branch moved meanwhile.
	Attempts int
	// Change is what was committed: the files whose content changed, and
	// the message. nil when nothing changed.
	Change *Change
}

const (
	// maxPushAttempts bounds the edits of a remote branch that keeps
	// moving.
	maxPushAttempts = 3
	// maxLocalAttempts: a local branch that moved while committing is
	// edited once more.
	maxLocalAttempts = 2
)

// Update commits the change that edit computes on the head of a branch, and
// for a remote repository pushes it. ref names the branch ("main" or
// "refs/heads/main"); "" means the branch checked out in a local repository
// or the default branch of a remote one. A tag or a commit sha is an error.
//
// The commit is built from objects, never through a checkout: blobs for the
// changed files, new trees along their paths, and a commit whose parent is
// the branch head, with author as author and committer, dated now. Before
// the branch moves, the commit is read back and checked to hold the change
// and nothing else. Git hooks are not run and commits are not signed.
//
// In a local work tree only the checked-out branch is committed to. Update
// refuses, before writing anything, when a file to change has uncommitted
// changes, staged or not, or while a merge, a rebase, a cherry-pick or a
// revert is in progress. It then moves the branch if it is still at the
// parent (the edit is redone once if it moved), and writes the changed files
// to the work tree and the index so that git status shows them unchanged.
// The user's other changes, staged or not, are kept and not committed. In a
// local bare repository only the branch moves.
//
// For a remote repository, the cached clone is fetched, the commit built on
// the remote branch's head and pushed without force: the remote takes it
// only while its branch is still at that head. When the branch moved, the
// clone is fetched again and edit called on the new head, up to 3 attempts.
// After the push, the clone's branch points at the new commit. edit runs
// while Update holds the clone's lock, so it must not open the same remote
// repository.
func (r *Repository) Update(ctx context.Context, ref string, author Author, edit EditFunc) (*CommitResult, error) {
	if err := author.validate(); err != nil {
		return nil, err
	}
	if edit == nil {
		return nil, errors.New("update: no edit function given")
	}
	if r.remote != nil {
		return r.updateRemote(ctx, ref, author, edit)
	}
	return r.updateLocal(ctx, ref, author, edit)
}

// pendingChange is an edit checked against the commit it was made on.
type pendingChange struct {
	parent *object.Commit
	change *Change       // only the files that change
	files  []pendingFile // sorted by path
}

type pendingFile struct {
	path     string
	mode     filemode.FileMode
	old, new plumbing.Hash
}

func (p *pendingChange) paths() []string {
	out := make([]string, len(p.files))
	for i, f := range p.files {
		out[i] = f.path
	}
	return out
}

// errBranchMoved says that the branch no longer points at the commit the
// change was made on.
var errBranchMoved = errors.New("the branch moved")

func (r *Repository) updateLocal(ctx context.Context, ref string, author Author, edit EditFunc) (*CommitResult, error) {
	wt, err := r.workTreeDir()
	if err != nil {
		return nil, err
	}
	r.store.mu.Lock()
	branch, err := r.branchFor(ref, wt != "")
	r.store.mu.Unlock()
	if err != nil {
		return nil, err
	}
	res := &CommitResult{Branch: branch.Short()}
	for res.Attempts < maxLocalAttempts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res.Attempts++
		head, err := r.branchHead(branch)
		if err != nil {
			return nil, err
		}
		res.Parent = head.String()
		p, err := r.prepare(branch, head, edit)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return res, nil // nothing to change
		}
		commit, err := r.commitLocal(wt, branch, p, author)
		if errors.Is(err, errBranchMoved) {
			continue
		}
		if err != nil {
			return nil, err
		}
		res.Revision, res.Change = commit.String(), p.change
		return res, nil
	}
	return nil, fmt.Errorf("cannot commit to %s of %s: the branch moved twice while the change was being made; run again", branch.Short(), r.name)
}

// commitLocal commits p to branch of a local repository, and brings the
// work tree wt, if any, and its index up to date.
func (r *Repository) commitLocal(wt string, branch plumbing.ReferenceName, p *pendingChange, author Author) (plumbing.Hash, error) {
	var index *lockedIndex
	if wt != "" {
		var err error
		// Locked first, as git commit does, so that no git command
		// changes the index until the work tree is up to date.
		if index, err = lockIndex(r.dir); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("cannot commit to %s of %s: %w", branch.Short(), r.name, err)
		}
		defer index.rollback()
		if op := inProgress(r.dir); op != "" {
			return plumbing.ZeroHash, fmt.Errorf("cannot commit to %s of %s: %s is in progress: finish or abort it first", branch.Short(), r.name, op)
		}
		if head, err := r.branchHead(branch); err != nil {
			return plumbing.ZeroHash, err
		} else if head != p.parent.Hash {
			return plumbing.ZeroHash, errBranchMoved // the index may be of the new head
		}
		if err := checkClean(wt, index.ix, p); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("cannot commit to %s of %s: %w", branch.Short(), r.name, err)
		}
	}

	when := time.Now()
	commit, _, err := r.writeCommit(p, author, when)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := r.moveBranch(branch, p.parent.Hash, commit, author, when, p.change.Message, wt != ""); err != nil {
		return plumbing.ZeroHash, err
	}
	if index == nil {
		return commit, nil
	}
	if err := index.checkout(wt, p); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("committed %s to %s of %s, but updating the work tree failed: %w; run git checkout HEAD -- %s to bring the changed files up to date",
			commit.String()[:12], branch.Short(), r.name, err, strings.Join(p.paths(), " "))
	}
	return commit, nil
}

// beginPush readies the clone of a remote for a commit on branch ref: it
// takes the clone's lock (one process at a time fetches into and pushes
// from a clone), fetches, and resolves the branch. done releases the lock
// and the credentials.
func (r *Repository) beginPush(ctx context.Context, ref string) (auth *authMethod, branch plumbing.ReferenceName, done func(), err error) {
	auth, err = newAuth(r.remote, r.spec.Auth)
	if err != nil {
		return nil, "", nil, err
	}
	unlock, err := lockFile(ctx, r.dir+".lock")
	if err != nil {
		auth.close()
		return nil, "", nil, err
	}
	done = func() { unlock(); auth.close() }
	if err := r.refresh(ctx, auth); err != nil {
		done()
		return nil, "", nil, err
	}
	r.store.mu.Lock()
	branch, err = r.branchFor(ref, false)
	r.store.mu.Unlock()
	if err != nil {
		done()
		return nil, "", nil, err
	}
	return auth, branch, done, nil
}

func (r *Repository) updateRemote(ctx context.Context, ref string, author Author, edit EditFunc) (*CommitResult, error) {
	auth, branch, done, err := r.beginPush(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer done()
	res := &CommitResult{Branch: branch.Short()}
	for {
		res.Attempts++
		head, err := r.branchHead(branch)
		if err != nil {
			return nil, err
		}
		res.Parent = head.String()
		p, err := r.prepare(branch, head, edit)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return res, nil // nothing to change
		}

		r.store.mu.Lock()
		commit, objects, err := r.writeCommit(p, author, time.Now())
		if err == nil {
			err = r.push(ctx, auth, branch, head, commit, objects)
		}
		r.store.mu.Unlock()
		var rejected *pushRejected
		if err != nil && !errors.As(err, &rejected) {
			return nil, err
		}
		if err != nil {
			// Refused: fetch to see whether the branch moved.
			if err := r.refresh(ctx, auth); err != nil {
				return nil, err
			}
			now, err := r.branchHead(branch)
			if err != nil {
				return nil, err
			}
			switch {
			case now == commit: // it landed after all
			case now == head:
				return nil, fmt.Errorf("pushing %s to %s of %s was refused: %s: check the branch's protection rules and that the credentials may push to it",
					commit.String()[:12], branch.Short(), r.name, rejected.reason)
			case res.Attempts >= maxPushAttempts:
				return nil, fmt.Errorf("cannot push to %s of %s: the branch moved %d times while the change was being made (others are pushing to it); run again",
					branch.Short(), r.name, res.Attempts)
			default:
				continue
			}
		}

		r.store.mu.Lock()
		err = r.repo.Storer.SetReference(plumbing.NewHashReference(branch, commit))
		r.store.mu.Unlock()
		if err != nil {
			return nil, corruptCacheErr(r.dir, fmt.Errorf("pushed %s to %s of %s, but recording it in the cached clone failed: %w", commit, branch.Short(), r.name, err))
		}
		res.Revision, res.Pushed, res.Change = commit.String(), true, p.change
		return res, nil
	}
}

// branchFor returns the branch that ref names for Update. "" and "HEAD"
// name the branch HEAD points at; checkedOut allows no other. The caller
// holds r.store.mu.
func (r *Repository) branchFor(ref string, checkedOut bool) (plumbing.ReferenceName, error) {
	var current plumbing.ReferenceName
	head, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", r.storeErr(fmt.Errorf("reading HEAD of %s: %w", r.name, err))
	}
	if err == nil && head.Type() == plumbing.SymbolicReference && head.Target().IsBranch() {
		current = head.Target()
	}
	detached := func() error {
		at := ""
		if err == nil && head.Type() == plumbing.HashReference {
			at = " at " + head.Hash().String()[:12]
		}
		if checkedOut {
			return fmt.Errorf("cannot commit in %s: its HEAD is detached%s, not on a branch: check out the branch to commit to", r.name, at)
		}
		if r.remote != nil {
			return fmt.Errorf("the default branch of %s is not known: pass --ref <branch>", r.name)
		}
		return fmt.Errorf("HEAD of %s is detached%s, not on a branch: pass --ref <branch>", r.name, at)
	}

	if ref == "" || ref == "HEAD" {
		if current == "" {
			return "", detached()
		}
		return current, nil
	}
	name := plumbing.ReferenceName(ref)
	if !strings.HasPrefix(ref, "refs/") {
		name = plumbing.NewBranchReferenceName(ref)
	}
	if name.IsBranch() && name.Validate() == nil {
		_, err := r.repo.Storer.Reference(name)
		switch {
		case err == nil && checkedOut && current == "":
			return "", detached()
		case err == nil && checkedOut && name != current:
			return "", fmt.Errorf("cannot commit to %s in %s: the work tree has %s checked out, and only the checked-out branch is committed to: check out %s first",
				name.Short(), r.name, current.Short(), name.Short())
		case err == nil:
			return name, nil
		case !errors.Is(err, plumbing.ErrReferenceNotFound):
			return "", r.storeErr(fmt.Errorf("reading %s of %s: %w", name, r.name, err))
		}
	}
	_, got, err := r.resolve(ref)
	switch {
	case err == nil:
		what := "a commit sha"
		switch {
		case got.IsTag():
			what = "a tag"
		case got.IsRemote():
			what = "the remote-tracking branch " + got.Short()
		case got != "":
			what = string(got)
		}
		return "", fmt.Errorf("ref %q of %s is %s, not a branch: a change is committed to a branch: pass --ref <branch>%s", ref, r.name, what, r.branchHint())
	case errors.Is(err, ErrRefNotFound):
		return "", r.notFound(ref, "branch")
	default:
		return "", err
	}
}

// branchHead returns the commit branch points at.
func (r *Repository) branchHead(branch plumbing.ReferenceName) (plumbing.Hash, error) {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	ref, err := r.repo.Storer.Reference(branch)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		if r.remote != nil {
			return plumbing.ZeroHash, &refNotFoundError{fmt.Sprintf("branch %s not found in %s (as last fetched)%s", branch.Short(), r.name, r.branchHint())}
		}
		return plumbing.ZeroHash, &refNotFoundError{fmt.Sprintf("branch %s of %s has no commits: there is no file to change", branch.Short(), r.name)}
	}
	if err != nil {
		return plumbing.ZeroHash, r.storeErr(fmt.Errorf("reading %s of %s: %w", branch, r.name, err))
	}
	if ref.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, fmt.Errorf("branch %s of %s is a symbolic reference to %s: pass --ref %s", branch.Short(), r.name, ref.Target(), ref.Target().Short())
	}
	return r.peel(ref.Hash(), string(branch))
}

// prepare runs edit on the snapshot of branch at head and checks the change
// against that commit. It returns nil when nothing changes.
func (r *Repository) prepare(branch plumbing.ReferenceName, head plumbing.Hash, edit EditFunc) (*pendingChange, error) {
	r.store.mu.Lock()
	snap, err := r.snapshot(head, branch)
	r.store.mu.Unlock()
	if err != nil {
		return nil, err
	}
	change, err := edit(snap)
	if err != nil || change == nil || len(change.Files) == 0 {
		return nil, err
	}
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	return r.diff(head, change)
}

// diff keeps the files of change whose content differs in commit head. The
// caller holds r.store.mu.
func (r *Repository) diff(head plumbing.Hash, change *Change) (*pendingChange, error) {
	parent, err := object.GetCommit(r.repo.Storer, head)
	if err != nil {
		return nil, r.storeErr(fmt.Errorf("reading commit %s of %s: %w", head, r.name, err))
	}
	p := &pendingChange{parent: parent}
	files := map[string][]byte{}
	for _, name := range slices.Sorted(maps.Keys(change.Files)) {
		e, err := r.fileEntry(parent, name)
		if err != nil {
			return nil, err
		}
		data := change.Files[name]
		h := plumbing.ComputeHash(plumbing.BlobObject, data)
		if h == e.Hash {
			continue
		}
		p.files = append(p.files, pendingFile{path: name, mode: e.Mode, old: e.Hash, new: h})
		files[name] = data
	}
	if len(p.files) == 0 {
		return nil, nil
	}
	msg := change.Message
	if strings.TrimSpace(msg) == "" {
		return nil, fmt.Errorf("the change to %s of %s has no commit message", strings.Join(p.paths(), ", "), r.name)
	}
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	p.change = &Change{Files: files, Message: msg}
	return p, nil
}

// fileEntry returns the entry of the file name in commit c, walking real
// directories only: a path through a symbolic link or a submodule names no
// file of the commit. The caller holds r.store.mu.
func (r *Repository) fileEntry(c *object.Commit, name string) (object.TreeEntry, error) {
	fail := func(format string, args ...any) (object.TreeEntry, error) {
		return object.TreeEntry{}, fmt.Errorf("cannot change %s in commit %s of %s: %s", name, c.Hash.String()[:12], r.name, fmt.Sprintf(format, args...))
	}
	if !fs.ValidPath(name) || name == "." {
		return fail("not a slash-separated path relative to the repository root")
	}
	h := c.TreeHash
	elems := strings.Split(name, "/")
	for i, elem := range elems {
		t, err := object.GetTree(r.repo.Storer, h)
		if err != nil {
			return object.TreeEntry{}, r.storeErr(fmt.Errorf("reading tree %s of %s: %w", h, r.name, err))
		}
		j := slices.IndexFunc(t.Entries, func(e object.TreeEntry) bool { return e.Name == elem })
		at := strings.Join(elems[:i+1], "/")
		if j < 0 {
			return fail("%s does not exist: only files of the commit can be changed", at)
		}
		e := t.Entries[j]
		last := i == len(elems)-1
		switch {
		case !last && e.Mode == filemode.Dir:
			h = e.Hash
		case !last:
			return fail("%s is %s", at, describeMode(e.Mode))
		case e.Mode == filemode.Regular, e.Mode == filemode.Executable, e.Mode == filemode.Deprecated:
			return e, nil
		case e.Mode == filemode.Symlink:
			return fail("it is a symbolic link: change the file it points to")
		default:
			return fail("it is %s", describeMode(e.Mode))
		}
	}
	panic("unreachable")
}

func describeMode(m filemode.FileMode) string {
	switch m {
	case filemode.Dir:
		return "a directory"
	case filemode.Symlink:
		return "a symbolic link"
	case filemode.Submodule:
		return "a submodule"
	default:
		return "a file"
	}
}

// writeCommit stores the blobs of p's files, new trees along their paths
// and a commit of them on p.parent, and checks what it wrote. It returns the
// commit and every object written, which a push sends. The caller holds
// r.store.mu.
func (r *Repository) writeCommit(p *pendingChange, author Author, when time.Time) (plumbing.Hash, []plumbing.Hash, error) {
	s := r.repo.Storer
	fail := func(err error) (plumbing.Hash, []plumbing.Hash, error) {
		return plumbing.ZeroHash, nil, r.storeErr(fmt.Errorf("writing the commit to %s: %w", r.name, err))
	}
	var written []plumbing.Hash
	blobs := map[string]plumbing.Hash{}
	for _, f := range p.files {
		obj := s.NewEncodedObject()
		obj.SetType(plumbing.BlobObject)
		w, err := obj.Writer()
		if err != nil {
			return fail(err)
		}
		_, err = w.Write(p.change.Files[f.path])
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(err)
		}
		h, err := s.SetEncodedObject(obj)
		if err != nil {
			return fail(err)
		}
		if h != f.new {
			return fail(fmt.Errorf("blob of %s stored as %s, want %s", f.path, h, f.new))
		}
		blobs[f.path] = h
		written = append(written, h)
	}
	tree, err := r.rewriteTree(p.parent.TreeHash, blobs, &written)
	if err != nil {
		return fail(err)
	}
	sig := object.Signature{Name: author.Name, Email: author.Email, When: when}
	c := &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      p.change.Message,
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{p.parent.Hash},
	}
	obj := s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return fail(err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		return fail(err)
	}
	if err := r.verify(h, p, author); err != nil {
		return plumbing.ZeroHash, nil, err
	}
	return h, append(written, h), nil
}

// rewriteTree stores a copy of tree h with the files (paths relative to
// it) pointing at new blobs, and returns its hash. Entries keep their
// order and modes. The caller holds r.store.mu.
func (r *Repository) rewriteTree(h plumbing.Hash, files map[string]plumbing.Hash, written *[]plumbing.Hash) (plumbing.Hash, error) {
	t, err := object.GetTree(r.repo.Storer, h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	direct := map[string]plumbing.Hash{}
	sub := map[string]map[string]plumbing.Hash{}
	for p, blob := range files {
		dir, rest, nested := strings.Cut(p, "/")
		if !nested {
			direct[p] = blob
			continue
		}
		if sub[dir] == nil {
			sub[dir] = map[string]plumbing.Hash{}
		}
		sub[dir][rest] = blob
	}
	entries := slices.Clone(t.Entries)
	found := 0
	for i := range entries {
		e := &entries[i]
		if blob, ok := direct[e.Name]; ok && e.Mode != filemode.Dir {
			e.Hash = blob
			found++
		} else if files, ok := sub[e.Name]; ok && e.Mode == filemode.Dir {
			if e.Hash, err = r.rewriteTree(e.Hash, files, written); err != nil {
				return plumbing.ZeroHash, err
			}
			found++
		}
	}
	if found != len(direct)+len(sub) {
		return plumbing.ZeroHash, fmt.Errorf("tree %s: %d of the paths to change not found", h, len(direct)+len(sub)-found)
	}
	obj := r.repo.Storer.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	nh, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	*written = append(*written, nh)
	return nh, nil
}

// verify reads commit h back, with go-git's tree walk and diff rather than
// the code that built it, and checks that it is p's change on p.parent and
// nothing else. The caller holds r.store.mu.
func (r *Repository) verify(h plumbing.Hash, p *pendingChange, author Author) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("the commit built for %s of %s does not hold the change (%s): nothing was committed; this is a bug in kubectl-gitops",
			strings.Join(p.paths(), ", "), r.name, fmt.Sprintf(format, args...))
	}
	c, err := object.GetCommit(r.repo.Storer, h)
	if err != nil {
		return fail("reading it back: %v", err)
	}
	if !slices.Equal(c.ParentHashes, []plumbing.Hash{p.parent.Hash}) {
		return fail("parents %v, want %s", c.ParentHashes, p.parent.Hash)
	}
	if c.Author.Name != author.Name || c.Author.Email != author.Email || c.Committer.Name != author.Name || c.Committer.Email != author.Email || c.Message != p.change.Message {
		return fail("author, committer or message differ")
	}
	tree, err := c.Tree()
	if err != nil {
		return fail("reading its tree: %v", err)
	}
	for _, f := range p.files {
		file, err := tree.File(f.path)
		if err != nil {
			return fail("%s: %v", f.path, err)
		}
		rd, err := file.Reader()
		if err != nil {
			return fail("%s: %v", f.path, err)
		}
		got, err := io.ReadAll(rd)
		_ = rd.Close()
		if err != nil {
			return fail("%s: %v", f.path, err)
		}
		if !bytes.Equal(got, p.change.Files[f.path]) || file.Mode != f.mode {
			return fail("%s has other content or mode", f.path)
		}
	}
	parentTree, err := p.parent.Tree()
	if err != nil {
		return fail("reading the parent's tree: %v", err)
	}
	changes, err := object.DiffTree(parentTree, tree)
	if err != nil {
		return fail("comparing with the parent: %v", err)
	}
	var changed []string
	for _, ch := range changes {
		changed = append(changed, ch.To.Name)
	}
	slices.Sort(changed)
	if !slices.Equal(changed, p.paths()) {
		return fail("it changes %v", changed)
	}
	return nil
}
