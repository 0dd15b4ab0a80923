package source

import (
	"errors"
	"fmt"
	"os"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// openLocal opens a repository on this machine in place. Only its object
// store and refs are read: the working tree, the index and the stash are
// never looked at, except by Repository.Update.
func openLocal(spec Spec) (*Repository, error) {
	if _, err := os.Stat(spec.Repo); err != nil {
		return nil, fmt.Errorf("repository %s: %w: pass the path of a local repository or a URL", spec.Repo, err)
	}
	// First as given, which also opens bare repositories (DetectDotGit
	// would walk up past them), then walking up from a subdirectory of a
	// work tree.
	opts := &git.PlainOpenOptions{EnableDotGitCommonDir: true}
	repo, err := git.PlainOpenWithOptions(spec.Repo, opts)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		opts.DetectDotGit = true
		repo, err = git.PlainOpenWithOptions(spec.Repo, opts)
	}
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s is not a git repository (nor is any parent directory): pass the path of a repository or its URL", spec.Repo)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the repository %s: %w", spec.Repo, err)
	}
	worktree := ""
	if wt, err := repo.Worktree(); err == nil {
		worktree = wt.Filesystem.Root()
	}
	// Reopen the git directory found, with our storage options and without
	// the work tree.
	st, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("opening the repository %s: unexpected storage %T", spec.Repo, repo.Storer)
	}
	repo, store, err := openStore(st.Filesystem())
	if err != nil {
		return nil, fmt.Errorf("opening the repository %s: %w", spec.Repo, err)
	}
	return &Repository{
		spec:     spec,
		name:     spec.Repo,
		dir:      st.Filesystem().Root(),
		worktree: worktree,
		repo:     repo,
		store:    store,
	}, nil
}
