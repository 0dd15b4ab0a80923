package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Uncommitted lists the files under dir (a slash path from the root of the
// repository; "" for all of it) whose copy in the index or the work tree
// differs from commit revision, as "path (why)", sorted: the changes a
// sync of that commit does not see. Each file is checked as Update checks
// the files it changes (see checkClean); files added to the index but not
// committed are listed too, and untracked files that are not ignored.
//
// Only a local work tree checked out at revision is looked at: for a
// remote or bare repository, or when HEAD is another commit, the list is
// empty. workTree is the work tree looked at.
func (r *Repository) Uncommitted(revision, dir string) (files []string, workTree string, err error) {
	if r.remote != nil {
		return nil, "", nil
	}
	wt, err := r.workTreeDir()
	if err != nil || wt == "" {
		return nil, "", err
	}
	dir = strings.Trim(filepath.ToSlash(dir), "/")
	if dir == "." {
		dir = ""
	}

	var committed []pendingFile
	r.store.mu.Lock()
	head, _, herr := r.resolveHead()
	if herr == nil && head.String() == revision {
		committed, err = r.treeFiles(head, dir)
	}
	r.store.mu.Unlock()
	if herr != nil || head.String() != revision {
		return nil, "", nil // an unborn branch, or another commit checked out
	}
	if err != nil {
		return nil, "", err
	}

	var ix *indexFile
	data, err := os.ReadFile(filepath.Join(r.dir, "index"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, "", fmt.Errorf("reading the index of %s: %w", r.name, err)
	default:
		if ix, err = parseIndex(data); err != nil {
			return nil, "", fmt.Errorf("reading the index of %s: %w", r.name, err)
		}
	}

	inCommit := make(map[string]bool, len(committed))
	for _, f := range committed {
		inCommit[f.path] = true
		if why := fileState(wt, ix, f); why != "" {
			files = append(files, fmt.Sprintf("%s (%s)", f.path, why))
		}
	}
	if ix != nil {
		for path := range ix.entries {
			if !inCommit[path] && (dir == "" || strings.HasPrefix(path, dir+"/")) {
				files = append(files, path+" (staged)")
			}
		}
	}
	untracked, err := untrackedFiles(wt, dir, ix)
	if err != nil {
		return nil, "", fmt.Errorf("reading the work tree of %s: %w", r.name, err)
	}
	files = append(files, untracked...)
	sort.Strings(files)
	return files, wt, nil
}

// untrackedFiles lists the files under dir in the work tree wt that are
// neither in the index nor ignored (.gitignore, .git/info/exclude), as
// "path (untracked)". Symbolic links are not followed, nested repositories
// not entered.
func untrackedFiles(wt, dir string, ix *indexFile) ([]string, error) {
	patterns, _ := gitignore.ReadPatterns(osfs.New(wt), nil)
	ignored := gitignore.NewMatcher(patterns)
	tracked := func(path string) bool { return ix != nil && len(ix.entries[path]) > 0 }
	var out []string
	root := filepath.Join(wt, filepath.FromSlash(dir))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(wt, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		parts := strings.Split(rel, "/")
		if d.IsDir() {
			if p != root && (d.Name() == ".git" || tracked(rel) || ignored.Match(parts, true)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !tracked(rel) && !ignored.Match(parts, false) {
			out = append(out, rel+" (untracked)")
		}
		return nil
	})
	return out, err
}

// treeFiles lists the regular files under dir in the tree of commit hash,
// with their blobs as pendingFiles' old content. The caller holds
// r.store.mu.
func (r *Repository) treeFiles(hash plumbing.Hash, dir string) ([]pendingFile, error) {
	commit, err := object.GetCommit(r.repo.Storer, hash)
	if err != nil {
		return nil, r.storeErr(fmt.Errorf("reading commit %s of %s: %w", hash, r.name, err))
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, r.storeErr(fmt.Errorf("reading the tree of commit %s of %s: %w", hash, r.name, err))
	}
	if dir != "" {
		tree, err = tree.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, r.storeErr(fmt.Errorf("reading %s in commit %s of %s: %w", dir, hash, r.name, err))
		}
	}
	var out []pendingFile
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for {
		name, e, err := w.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, r.storeErr(fmt.Errorf("reading the tree of commit %s of %s: %w", hash, r.name, err))
		}
		if e.Mode != filemode.Regular && e.Mode != filemode.Executable && e.Mode != filemode.Deprecated {
			continue // directories, symbolic links, submodules
		}
		if dir != "" {
			name = dir + "/" + name
		}
		out = append(out, pendingFile{path: name, mode: e.Mode, old: e.Hash})
	}
}
