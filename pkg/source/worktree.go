package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// This file holds what Update does to a local repository beyond writing
// objects: moving the branch, and bringing the work tree and the index up
// to date. It takes git's lock files (index.lock, refs/heads/<branch>.lock)
// as git does, so that it and git commands running at the same time
// exclude each other.

// workTreeDir returns the work tree of a local repository; "" for a bare
// one.
func (r *Repository) workTreeDir() (string, error) {
	if r.worktree != "" {
		return r.worktree, nil
	}
	// Opened by its git directory: go-git takes that for a bare
	// repository; the configuration knows better.
	r.store.mu.Lock()
	cfg, err := r.repo.Config()
	r.store.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("reading the configuration of %s: %w", r.name, err)
	}
	switch {
	case cfg.Core.IsBare:
		return "", nil
	case cfg.Core.Worktree != "":
		if filepath.IsAbs(cfg.Core.Worktree) {
			return filepath.Clean(cfg.Core.Worktree), nil
		}
		return filepath.Join(r.dir, cfg.Core.Worktree), nil
	case filepath.Base(r.dir) == ".git":
		return filepath.Dir(r.dir), nil
	}
	return "", fmt.Errorf("%s is the git directory of a work tree: pass the path of the work tree", r.name)
}

// commonDir returns the directory that holds the refs: the git directory,
// or for a linked work tree (git worktree add) the main one's.
func (r *Repository) commonDir() string {
	b, err := os.ReadFile(filepath.Join(r.dir, "commondir"))
	if err != nil {
		return r.dir
	}
	d := strings.TrimSpace(string(b))
	if !filepath.IsAbs(d) {
		d = filepath.Join(r.dir, d)
	}
	return filepath.Clean(d)
}

// moveBranch points branch at new if it still points at old, as git
// updates a ref: branch.lock is created exclusively, the current value read,
// the new one written into the lock file, which is renamed over the ref.
// checkedOut also requires HEAD to still point at branch. It returns
// errBranchMoved when either moved. The reflogs, where they exist, get a
// line.
func (r *Repository) moveBranch(branch plumbing.ReferenceName, old, new plumbing.Hash, author Author, when time.Time, message string, checkedOut bool) error {
	common := r.commonDir()
	path := filepath.Join(common, filepath.FromSlash(string(branch)))
	fail := func(err error) error {
		return fmt.Errorf("cannot commit to %s of %s: %w", branch.Short(), r.name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return fail(err)
	}
	lock, err := createLock(path)
	if err != nil {
		return fail(err)
	}
	done := false
	defer func() {
		if !done {
			_ = lock.Close()
			_ = os.Remove(lock.Name())
		}
	}()

	r.store.mu.Lock()
	cur, err := r.repo.Storer.Reference(branch)
	var head *plumbing.Reference
	if err == nil && checkedOut {
		head, err = r.repo.Storer.Reference(plumbing.HEAD)
	}
	r.store.mu.Unlock()
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return errBranchMoved
	case err != nil:
		return fail(err)
	case cur.Type() != plumbing.HashReference || cur.Hash() != old:
		return errBranchMoved
	case checkedOut && (head.Type() != plumbing.SymbolicReference || head.Target() != branch):
		return errBranchMoved
	}

	_, err = lock.WriteString(new.String() + "\n")
	if cerr := lock.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(lock.Name(), path)
	}
	if err != nil {
		return fail(err)
	}
	done = true

	subject, _, _ := strings.Cut(strings.TrimSpace(message), "\n")
	line := fmt.Sprintf("%s %s %s <%s> %d %s\tcommit (kubectl-gitops): %s\n",
		old, new, author.Name, author.Email, when.Unix(), when.Format("-0700"), strings.TrimSpace(subject))
	appendIfExists(filepath.Join(common, "logs", filepath.FromSlash(string(branch))), line)
	if checkedOut {
		appendIfExists(filepath.Join(r.dir, "logs", "HEAD"), line)
	}
	return nil
}

// appendIfExists adds line to the file at path if there is one. Reflogs
// are a convenience: a failure to write one is no failure of the commit.
func appendIfExists(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	_, _ = f.WriteString(line)
	_ = f.Close()
}

// createLock creates path.lock exclusively, as git's lock files are.
func createLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s.lock exists: another git process seems to be running in this repository; if none is, remove the file and run again", path)
	}
	return f, err
}

// inProgress names the git operation under way in the work tree whose git
// directory is gitDir, if any: a commit made meanwhile could be undone by
// its --abort, which resets the branch to where it started.
func inProgress(gitDir string) string {
	for _, op := range []struct{ file, name string }{
		{"MERGE_HEAD", "a merge"},
		{"CHERRY_PICK_HEAD", "a cherry-pick"},
		{"REVERT_HEAD", "a revert"},
		{"sequencer", "a cherry-pick or a revert"},
		{"rebase-merge", "a rebase"},
		{"rebase-apply", "a rebase or git am"},
	} {
		if _, err := os.Lstat(filepath.Join(gitDir, op.file)); err == nil {
			return op.name
		}
	}
	return ""
}

// lockedIndex is the index of a work tree while Update holds index.lock.
type lockedIndex struct {
	path string
	lock *os.File
	ix   *indexFile // nil when there is no index
	done bool
}

func lockIndex(gitDir string) (*lockedIndex, error) {
	path := filepath.Join(gitDir, "index")
	lock, err := createLock(path)
	if err != nil {
		return nil, err
	}
	l := &lockedIndex{path: path, lock: lock}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err == nil {
		l.ix, err = parseIndex(data)
	}
	if err != nil {
		l.rollback()
		return nil, fmt.Errorf("reading the index %s: %w", path, err)
	}
	return l, nil
}

// rollback removes the lock, leaving the index as it was, unless the index
// was written.
func (l *lockedIndex) rollback() {
	if !l.done {
		_ = l.lock.Close()
		_ = os.Remove(l.lock.Name())
		l.done = true
	}
}

// checkClean refuses to change files with uncommitted changes: each must
// be in the index, unconflicted, as in the parent commit, and in the work
// tree with that content, unless git keeps it out of the work tree
// (skip-worktree, as sparse checkouts do).
func checkClean(wt string, ix *indexFile, p *pendingChange) error {
	var dirty []string
	for _, f := range p.files {
		if why := fileState(wt, ix, f); why != "" {
			dirty = append(dirty, fmt.Sprintf("%s (%s)", f.path, why))
		}
	}
	switch len(dirty) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s has uncommitted changes: commit or stash them first", dirty[0])
	default:
		return fmt.Errorf("%s have uncommitted changes: commit or stash them first", strings.Join(dirty, ", "))
	}
}

// fileState says how the file f differs from its parent commit in the
// index or the work tree; "" when it does not.
func fileState(wt string, ix *indexFile, f pendingFile) string {
	if ix == nil {
		return "not in the index"
	}
	e, ok, conflicted := ix.entry(f.path)
	mode := f.mode
	if mode == filemode.Deprecated {
		mode = filemode.Regular // as git records it in the index
	}
	switch {
	case conflicted:
		return "conflicted"
	case !ok:
		return "deleted in the index"
	case e.ext&indexIntentToAdd != 0, ix.hash(e) != f.old, ix.mode(e) != uint32(mode):
		return "staged"
	case e.ext&indexSkipWork != 0:
		return "" // not in the work tree
	}
	path, why := workPath(wt, f.path)
	if why != "" {
		return why
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "deleted"
	case err != nil:
		return err.Error()
	case !fi.Mode().IsRegular():
		return "not a regular file in the work tree"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if plumbing.ComputeHash(plumbing.BlobObject, data) != f.old {
		return "modified"
	}
	return ""
}

// workPath returns the path of the file name in the work tree wt, checking
// that its directories are real ones: git does not write through symbolic
// links, nor does Update.
func workPath(wt, name string) (path, why string) {
	elems := strings.Split(name, "/")
	dir := wt
	for _, e := range elems[:len(elems)-1] {
		dir = filepath.Join(dir, e)
		fi, err := os.Lstat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", "deleted"
		case err != nil:
			return "", err.Error()
		case fi.Mode()&fs.ModeSymlink != 0:
			return "", "beyond a symbolic link in the work tree"
		case !fi.IsDir():
			return "", "not in a directory of the work tree"
		}
	}
	return filepath.Join(dir, elems[len(elems)-1]), ""
}

// checkout writes the changed files of p to the work tree and their new
// blobs and stat data to the index, then replaces the index with the lock
// file, as git does. Files outside the work tree (skip-worktree) only get
// their index entry changed.
func (l *lockedIndex) checkout(wt string, p *pendingChange) error {
	for _, f := range p.files {
		e, _, _ := l.ix.entry(f.path) // checkClean found it
		if e.ext&indexSkipWork != 0 {
			l.ix.setHash(e, f.new)
			continue
		}
		path, why := workPath(wt, f.path)
		if why != "" {
			return fmt.Errorf("%s: %s", f.path, why)
		}
		fi, err := replaceFile(path, p.change.Files[f.path])
		if err != nil {
			return err
		}
		l.ix.set(e, f.new, fileStat(fi))
	}
	_, err := l.lock.Write(l.ix.encode())
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(l.lock.Name(), l.path)
	}
	if err != nil {
		return fmt.Errorf("writing the index: %w", err)
	}
	l.done = true
	return nil
}

// replaceFile writes data to the file at path through a temporary file
// renamed over it, so that no reader sees half a file, keeping its
// permissions. It returns what the new file's stat says.
func replaceFile(path string, data []byte) (fs.FileInfo, error) {
	old, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".kubectl-gitops-*")
	if err != nil {
		return nil, err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(old.Mode().Perm())
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return nil, err
	}
	return os.Lstat(path)
}
