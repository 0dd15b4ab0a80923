package source

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var testAuthor = Author{Name: "Kube Bot", Email: "bot@example.com"}

// isolateGit keeps the git commands that go-git starts (file:// transport)
// and DefaultAuthor away from the user's and the system's configuration.
func isolateGit(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", "")
	t.Setenv("GIT_AUTHOR_NAME", "")
	t.Setenv("GIT_AUTHOR_EMAIL", "")
	return home
}

// setFile is an edit that sets the file name to content.
func setFile(name, content, msg string) EditFunc {
	return func(*Snapshot) (*Change, error) {
		return &Change{Files: map[string][]byte{name: []byte(content)}, Message: msg}, nil
	}
}

// gitOK reports whether a git command exits with 0.
func gitOK(r *gitRepo, args ...string) bool {
	return execGit(r, args...).Run() == nil
}

func openRepo(t *testing.T, spec Spec) *Repository {
	t.Helper()
	repo, err := OpenRepository(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func TestUpdateLocalWorkTree(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	r.write(map[string]string{
		"app/deploy.yaml":  "image: app:1.0\n",
		"app/service.yaml": "kind: Service\n",
		"other.yaml":       "a: 1\n",
		"run.sh":           "#!/bin/sh\necho 1.0\n",
	})
	if err := os.Chmod(filepath.Join(r.dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "first")
	parent := r.git("rev-parse", "HEAD")

	// The user's work in progress: a staged new file, an unstaged change
	// and an untracked file.
	r.write(map[string]string{
		"staged.yaml":   "staged: true\n",
		"other.yaml":    "a: 2 # not staged\n",
		"untracked.txt": "scratch\n",
	})
	r.git("add", "staged.yaml")
	statusBefore := r.git("status", "--porcelain")

	repo := openRepo(t, Spec{Repo: r.dir})
	var seen []*Snapshot
	const msg = "Update app to 1.1\n\nBy kubectl-gitops."
	res, err := repo.Update(context.Background(), "", testAuthor, func(s *Snapshot) (*Change, error) {
		seen = append(seen, s)
		return &Change{Message: msg, Files: map[string][]byte{
			"app/deploy.yaml":  []byte(strings.Replace(readFile(t, s, "app/deploy.yaml"), "1.0", "1.1", 1)),
			"app/service.yaml": []byte(readFile(t, s, "app/service.yaml")), // the same: no change
			"run.sh":           []byte(strings.Replace(readFile(t, s, "run.sh"), "1.0", "1.1", 1)),
		}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	head := r.git("rev-parse", "HEAD")
	if res.Revision != head || res.Parent != parent || res.Branch != "main" || res.Pushed || res.Attempts != 1 {
		t.Errorf("result = %+v, want revision %s (HEAD), parent %s, branch main, not pushed, 1 attempt", res, head, parent)
	}
	if got := slices.Sorted(maps.Keys(res.Change.Files)); !slices.Equal(got, []string{"app/deploy.yaml", "run.sh"}) {
		t.Errorf("result's change has %v, want only the changed files", got)
	}
	if len(seen) != 1 || seen[0].Revision != parent || seen[0].Ref != "refs/heads/main" {
		t.Errorf("edit saw %+v, want one snapshot of %s on refs/heads/main", seen, parent)
	}

	// The commit.
	if got, want := r.git("log", "-1", "--format=%an <%ae>|%cn <%ce>|%P"), "Kube Bot <bot@example.com>|Kube Bot <bot@example.com>|"+parent; got != want {
		t.Errorf("commit = %q, want %q", got, want)
	}
	if got := r.git("log", "-1", "--format=%B"); got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
	if got := r.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"); got != "app/deploy.yaml\nrun.sh" {
		t.Errorf("the commit changes %q, want app/deploy.yaml and run.sh only: the staged file must not be committed", got)
	}
	if got := r.git("ls-tree", "HEAD", "run.sh"); !strings.HasPrefix(got, "100755 ") {
		t.Errorf("run.sh in the commit: %q, want mode 100755 kept", got)
	}
	if got := r.git("reflog", "-1", "--format=%gs"); got != "commit (kubectl-gitops): Update app to 1.1" {
		t.Errorf("reflog = %q", got)
	}

	// The work tree and the index. diff-files does not refresh the
	// index: it passes only if the stat data recorded is right.
	if !gitOK(r, "diff-files", "--quiet", "--", "app/deploy.yaml", "run.sh") {
		t.Errorf("git diff-files: the index's stat data of the changed files do not match the work tree")
	}
	if got := r.git("status", "--porcelain"); got != statusBefore {
		t.Errorf("git status after Update:\n%s\nwant as before:\n%s", got, statusBefore)
	}
	if b, _ := os.ReadFile(filepath.Join(r.dir, "app", "deploy.yaml")); string(b) != "image: app:1.1\n" {
		t.Errorf("work tree app/deploy.yaml = %q", b)
	}
	if fi, err := os.Stat(filepath.Join(r.dir, "run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("work tree run.sh: %v, %v; want mode 0755 kept", fi, err)
	}
	if got := r.git("diff", "--cached", "--name-only"); got != "staged.yaml" {
		t.Errorf("staged after Update: %q, want staged.yaml still staged", got)
	}
	r.git("fsck", "--no-progress")

	// The user's next commit keeps the change: the index's cached trees of
	// the old commit are gone.
	r.git("commit", "-q", "-m", "the user's commit")
	if got := r.git("show", "HEAD:app/deploy.yaml"); got != "image: app:1.1" {
		t.Errorf("after the user's next commit app/deploy.yaml = %q, want the change kept", got)
	}
	if got := r.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"); got != "staged.yaml" {
		t.Errorf("the user's next commit changes %q, want staged.yaml", got)
	}
}

// A file to change with uncommitted changes is refused, and nothing is
// written: no commit, no object, the index and the work tree as they were.
func TestUpdateLocalRefusesUncommittedChanges(t *testing.T) {
	isolateGit(t)
	for _, tt := range []struct {
		name, why string
		prepare   func(r *gitRepo)
	}{
		{"modified", "modified", func(r *gitRepo) {
			r.write(map[string]string{"app/deploy.yaml": "image: app:mine\n"})
		}},
		{"staged", "staged", func(r *gitRepo) {
			r.write(map[string]string{"app/deploy.yaml": "image: app:mine\n"})
			r.git("add", "app/deploy.yaml")
		}},
		{"staged, then reverted in the work tree", "staged", func(r *gitRepo) {
			r.write(map[string]string{"app/deploy.yaml": "image: app:mine\n"})
			r.git("add", "app/deploy.yaml")
			r.write(map[string]string{"app/deploy.yaml": "image: app:1.0\n"})
		}},
		{"deleted", "deleted", func(r *gitRepo) {
			if err := os.Remove(filepath.Join(r.dir, "app", "deploy.yaml")); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed from the index", "deleted in the index", func(r *gitRepo) {
			r.git("rm", "-q", "--cached", "app/deploy.yaml")
		}},
		{"a directory now", "not a regular file in the work tree", func(r *gitRepo) {
			p := filepath.Join(r.dir, "app", "deploy.yaml")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("first", map[string]string{"app/deploy.yaml": "image: app:1.0\n", "app/other.yaml": "a: 1\n"})
			tt.prepare(r)
			head := r.git("rev-parse", "HEAD")
			status := r.git("status", "--porcelain")
			staged := r.git("ls-files", "--stage")
			objects := r.git("count-objects")

			repo := openRepo(t, Spec{Repo: r.dir})
			_, err := repo.Update(context.Background(), "", testAuthor, func(*Snapshot) (*Change, error) {
				return &Change{Message: "Update", Files: map[string][]byte{
					"app/deploy.yaml": []byte("image: app:1.1\n"),
					"app/other.yaml":  []byte("a: 2\n"),
				}}, nil
			})
			if err == nil || !strings.Contains(err.Error(), "app/deploy.yaml ("+tt.why+")") || !strings.Contains(err.Error(), "commit or stash them first") ||
				strings.Contains(err.Error(), "app/other.yaml") {
				t.Fatalf("Update = %v; want an error naming app/deploy.yaml (%s) only and saying to commit or stash", err, tt.why)
			}
			t.Log(err)
			if got := r.git("rev-parse", "HEAD"); got != head {
				t.Errorf("HEAD moved to %s", got)
			}
			if got := r.git("status", "--porcelain"); got != status {
				t.Errorf("git status = %q, want %q", got, status)
			}
			if got := r.git("ls-files", "--stage"); got != staged {
				t.Errorf("index = %q, want %q", got, staged)
			}
			if got := r.git("count-objects"); got != objects {
				t.Errorf("objects: %s, before: %s; want nothing written", got, objects)
			}
			if _, err := os.Stat(filepath.Join(r.dir, ".git", "index.lock")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("index.lock left behind: %v", err)
			}
		})
	}
}

// A commit that lands on the branch while the edit runs makes Update redo
// the edit on the new head.
func TestUpdateLocalBranchMovedMeanwhile(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	first := r.commit("first", map[string]string{"app/deploy.yaml": "image: app:1.0\n", "other.yaml": "a: 1\n"})
	repo := openRepo(t, Spec{Repo: r.dir})
	var seen []string
	var theirs string
	res, err := repo.Update(context.Background(), "main", testAuthor, func(s *Snapshot) (*Change, error) {
		seen = append(seen, s.Revision)
		if len(seen) == 1 {
			theirs = r.commit("theirs", map[string]string{"other.yaml": "a: 2\n"})
		}
		return &Change{Message: "Update", Files: map[string][]byte{"app/deploy.yaml": []byte("image: app:1.1\n")}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{first, theirs}) || res.Attempts != 2 || res.Parent != theirs {
		t.Errorf("edit saw %v, result %+v; want %s then %s, 2 attempts, parent %s", seen, res, first, theirs, theirs)
	}
	if got := r.git("log", "--format=%s", "main"); got != "Update\ntheirs\nfirst" {
		t.Errorf("history:\n%s\nwant Update on theirs on first", got)
	}
	if got := r.git("status", "--porcelain"); got != "" {
		t.Errorf("git status = %q, want clean", got)
	}
}

func TestUpdateLocalRefs(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	first := r.commit("first", map[string]string{"a.yaml": "a: 1\n"})
	r.git("tag", "v1")
	r.git("branch", "dev")
	repo := openRepo(t, Spec{Repo: r.dir})
	nothing := func(*Snapshot) (*Change, error) { return nil, nil }

	for _, ref := range []string{"", "HEAD", "main", "refs/heads/main"} {
		res, err := repo.Update(context.Background(), ref, testAuthor, nothing)
		if err != nil || res.Branch != "main" || res.Revision != "" || res.Parent != first {
			t.Errorf("Update(ref %q) = %+v, %v; want branch main, nothing committed", ref, res, err)
		}
	}
	for _, tt := range []struct{ ref, want string }{
		{"v1", `ref "v1" of ` + r.dir + ` is a tag, not a branch: a change is committed to a branch: pass --ref <branch>`},
		{"refs/tags/v1", "is a tag, not a branch"},
		{first, "is a commit sha, not a branch"},
		{first[:8], "is a commit sha, not a branch"},
		{"dev", "the work tree has main checked out, and only the checked-out branch is committed to: check out dev first"},
		{"nope", `ref "nope" not found`},
		{"a..b", "not a valid ref"},
	} {
		_, err := repo.Update(context.Background(), tt.ref, testAuthor, nothing)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Update(ref %q) = %v; want an error with %q", tt.ref, err, tt.want)
		}
	}
	_, err := repo.Update(context.Background(), "nope", testAuthor, nothing)
	if !errors.Is(err, ErrRefNotFound) {
		t.Errorf("Update(ref nope) = %v; want ErrRefNotFound", err)
	}

	r.git("checkout", "-q", "--detach")
	_, err = repo.Update(context.Background(), "", testAuthor, nothing)
	if err == nil || !strings.Contains(err.Error(), "HEAD is detached at "+first[:12]+", not on a branch: check out the branch to commit to") {
		t.Errorf("Update on a detached HEAD = %v; want a refusal", err)
	}
	t.Log(err)
}

func TestUpdateNothingToChange(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	first := r.commit("first", map[string]string{"a.yaml": "a: 1\n"})
	repo := openRepo(t, Spec{Repo: r.dir})
	for name, edit := range map[string]EditFunc{
		"nil change":   func(*Snapshot) (*Change, error) { return nil, nil },
		"no files":     func(*Snapshot) (*Change, error) { return &Change{Message: "nothing"}, nil },
		"same content": setFile("a.yaml", "a: 1\n", ""), // no message needed either
	} {
		res, err := repo.Update(context.Background(), "", testAuthor, edit)
		if err != nil || res.Revision != "" || res.Change != nil || res.Parent != first || res.Attempts != 1 {
			t.Errorf("%s: Update = %+v, %v; want no commit", name, res, err)
		}
	}
	if got := r.git("rev-parse", "HEAD"); got != first {
		t.Errorf("HEAD = %s, want %s", got, first)
	}
	if got := r.git("reflog", "--format=%H"); got != first {
		t.Errorf("reflog = %q, want the first commit only", got)
	}

	// An edit's error comes back as is.
	boom := errors.New("boom")
	if _, err := repo.Update(context.Background(), "", testAuthor, func(*Snapshot) (*Change, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("Update with a failing edit = %v, want its error", err)
	}
}

func TestUpdateInvalidChanges(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	r.commit("first", map[string]string{"app/deploy.yaml": "a: 1\n"})
	if err := os.Symlink("app/deploy.yaml", filepath.Join(r.dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app", filepath.Join(r.dir, "applink")); err != nil {
		t.Fatal(err)
	}
	head := r.commit("links", nil)
	repo := openRepo(t, Spec{Repo: r.dir})
	for _, tt := range []struct{ path, msg, want string }{
		{"missing.yaml", "m", "missing.yaml does not exist: only files of the commit can be changed"},
		{"app/missing.yaml", "m", "app/missing.yaml does not exist"},
		{"app", "m", "it is a directory"},
		{"link.yaml", "m", "it is a symbolic link: change the file it points to"},
		{"applink/deploy.yaml", "m", "applink is a symbolic link"},
		{"app/deploy.yaml/x", "m", "app/deploy.yaml is a file"},
		{"../x.yaml", "m", "not a slash-separated path relative to the repository root"},
		{"/app/deploy.yaml", "m", "not a slash-separated path"},
		{"app/deploy.yaml", " \n", "has no commit message"},
	} {
		_, err := repo.Update(context.Background(), "", testAuthor, setFile(tt.path, "changed\n", tt.msg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("changing %q: %v; want an error with %q", tt.path, err, tt.want)
		}
	}
	for _, a := range []Author{{}, {Name: "x"}, {Email: "x@y"}, {Name: "a <b>", Email: "c"}, {Name: "a", Email: "b\nc"}} {
		if _, err := repo.Update(context.Background(), "", a, setFile("app/deploy.yaml", "changed\n", "m")); err == nil {
			t.Errorf("Update as %+v: no error", a)
		}
	}
	if got := r.git("rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved to %s", got)
	}
}

func TestUpdateLocalBare(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	r.commit("first", map[string]string{"app/deploy.yaml": "a: 1\n"})
	r.git("branch", "dev")
	bare := filepath.Join(t.TempDir(), "bare.git")
	r.git("clone", "-q", "--bare", r.dir, bare)
	b := &gitRepo{t: t, dir: bare, env: r.env}
	repo := openRepo(t, Spec{Repo: bare})

	for _, tt := range []struct{ ref, branch, content string }{{"", "main", "a: 2\n"}, {"dev", "dev", "a: 3\n"}} {
		parent := b.git("rev-parse", tt.branch)
		res, err := repo.Update(context.Background(), tt.ref, testAuthor, setFile("app/deploy.yaml", tt.content, "Set a"))
		if err != nil {
			t.Fatal(err)
		}
		if got := b.git("rev-parse", tt.branch); res.Revision != got || res.Branch != tt.branch || res.Parent != parent {
			t.Errorf("Update(ref %q) = %+v; want %s on %s, parent %s", tt.ref, res, got, tt.branch, parent)
		}
		if got := b.git("show", tt.branch+":app/deploy.yaml"); got+"\n" != tt.content {
			t.Errorf("%s:app/deploy.yaml = %q, want %q", tt.branch, got, tt.content)
		}
	}
	if entries, _ := os.ReadDir(bare); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == "app" || e.Name() == "index" }) {
		t.Errorf("the bare repository got a work tree or an index: %v", entries)
	}
	b.git("fsck", "--no-progress")
}

// A work tree opened by its .git directory, or as a linked work tree, is
// still a work tree: its index and files follow the commit.
func TestUpdateLocalWorkTreeLayouts(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	r.commit("first", map[string]string{"app/deploy.yaml": "a: 1\n"})

	repo := openRepo(t, Spec{Repo: filepath.Join(r.dir, ".git")})
	if _, err := repo.Update(context.Background(), "", testAuthor, setFile("app/deploy.yaml", "a: 2\n", "via .git")); err != nil {
		t.Fatal(err)
	}
	if got := r.git("status", "--porcelain"); got != "" {
		t.Errorf("git status after an update through .git: %q, want clean", got)
	}

	linked := filepath.Join(t.TempDir(), "linked")
	r.git("worktree", "add", "-q", "-b", "feature", linked)
	w := &gitRepo{t: t, dir: linked, env: r.env}
	repo = openRepo(t, Spec{Repo: linked})
	res, err := repo.Update(context.Background(), "", testAuthor, setFile("app/deploy.yaml", "a: 3\n", "on feature"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Branch != "feature" || r.git("rev-parse", "feature") != res.Revision || r.git("rev-parse", "main") == res.Revision {
		t.Errorf("result %+v: want a commit on feature only", res)
	}
	for _, g := range []*gitRepo{r, w} {
		if got := g.git("status", "--porcelain"); got != "" {
			t.Errorf("git status in %s: %q, want clean", g.dir, got)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(linked, "app", "deploy.yaml")); string(b) != "a: 3\n" {
		t.Errorf("linked work tree has %q", b)
	}
	if got := w.git("reflog", "-1", "--format=%gs", "feature"); got != "commit (kubectl-gitops): on feature" {
		t.Errorf("reflog of feature: %q", got)
	}
}

// The index is changed in place, whatever its version and extensions.
func TestUpdateLocalIndexFormats(t *testing.T) {
	isolateGit(t)
	for _, tt := range []struct {
		name    string
		prepare func(r *gitRepo)
		exts    []string // the test is void unless the index has them
		check   func(t *testing.T, r *gitRepo)
	}{
		{name: "version 4", prepare: func(r *gitRepo) {
			r.git("update-index", "--index-version", "4")
		}},
		{name: "optional extensions", exts: []string{"TREE", "UNTR", "EOIE"}, prepare: func(r *gitRepo) {
			r.git("-c", "core.untrackedCache=true", "-c", "index.recordEndOfIndexEntries=true", "-c", "index.recordOffsetTable=true",
				"update-index", "--untracked-cache", "--force-write-index")
		}},
		{name: "assume-unchanged", prepare: func(r *gitRepo) {
			r.git("update-index", "--assume-unchanged", "app/b.yaml")
		}, check: func(t *testing.T, r *gitRepo) {
			if got := r.git("ls-files", "-v", "app/b.yaml"); got != "h app/b.yaml" {
				t.Errorf("ls-files -v app/b.yaml = %q, want the assume-unchanged flag kept (h)", got)
			}
		}},
		{name: "skip-worktree", prepare: func(r *gitRepo) {
			r.git("update-index", "--skip-worktree", "app/deploy.yaml")
			if err := os.Remove(filepath.Join(r.dir, "app", "deploy.yaml")); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, r *gitRepo) {
			if _, err := os.Stat(filepath.Join(r.dir, "app", "deploy.yaml")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a skip-worktree file was written to the work tree: %v", err)
			}
			if got := r.git("ls-files", "-v", "app/deploy.yaml"); got != "S app/deploy.yaml" {
				t.Errorf("ls-files -v = %q, want the skip-worktree flag kept (S)", got)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("first", map[string]string{"app/deploy.yaml": "a: 1\n", "app/b.yaml": "b: 1\n", "c.yaml": "c: 1\n"})
			tt.prepare(r)
			data, err := os.ReadFile(filepath.Join(r.dir, ".git", "index"))
			if err != nil {
				t.Fatal(err)
			}
			ix, err := parseIndex(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.exts {
				if !slices.ContainsFunc(ix.exts, func(x indexExt) bool { return x.sig == want }) {
					t.Fatalf("the index has the extensions %v, want %s", ix.exts, want)
				}
			}

			repo := openRepo(t, Spec{Repo: r.dir})
			res, err := repo.Update(context.Background(), "", testAuthor, setFile("app/deploy.yaml", "a: 2\n", "Set a"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := r.git("ls-files", "--stage", "app/deploy.yaml"), r.git("ls-tree", res.Revision, "app/deploy.yaml"); !strings.HasPrefix(want, strings.Fields(got)[0]+" blob "+strings.Fields(got)[1]) {
				t.Errorf("index entry %q, want the commit's %q", got, want)
			}
			if !gitOK(r, "diff-files", "--quiet") || !gitOK(r, "diff-index", "--quiet", "--cached", "HEAD") {
				t.Errorf("the index differs from HEAD or the work tree")
			}
			if got := r.git("status", "--porcelain"); got != "" {
				t.Errorf("git status = %q, want clean", got)
			}
			r.git("fsck", "--no-progress")
			if tt.check != nil {
				tt.check(t, r)
			}
			// git reads and writes it afterwards as its own.
			r.write(map[string]string{"c.yaml": "c: 2\n"})
			r.git("commit", "-q", "-am", "next")
			if got := r.git("show", "HEAD:app/deploy.yaml"); got != "a: 2" {
				t.Errorf("after the next commit app/deploy.yaml = %q, want a: 2", got)
			}
		})
	}

	t.Run("split index is refused", func(t *testing.T) {
		r := newRepo(t)
		head := r.commit("first", map[string]string{"a.yaml": "a: 1\n"})
		r.git("update-index", "--split-index")
		repo := openRepo(t, Spec{Repo: r.dir})
		_, err := repo.Update(context.Background(), "", testAuthor, setFile("a.yaml", "a: 2\n", "Set a"))
		if !errors.Is(err, errIndexFormat) || !strings.Contains(err.Error(), "split") {
			t.Fatalf("Update with a split index = %v; want a refusal", err)
		}
		t.Log(err)
		if got := r.git("rev-parse", "HEAD"); got != head {
			t.Errorf("HEAD moved")
		}
	})
}

// Git's own lock files exclude Update, and are left alone.
func TestUpdateLocalLocked(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	head := r.commit("first", map[string]string{"a.yaml": "a: 1\n"})
	repo := openRepo(t, Spec{Repo: r.dir})
	for _, lock := range []string{"index.lock", "refs/heads/main.lock"} {
		p := filepath.Join(r.dir, ".git", filepath.FromSlash(lock))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := repo.Update(context.Background(), "", testAuthor, setFile("a.yaml", "a: 2\n", "Set a"))
		if err == nil || !strings.Contains(err.Error(), lock+" exists: another git process seems to be running") {
			t.Errorf("Update while %s exists = %v; want a refusal naming it", lock, err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", lock, err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if got := r.git("rev-parse", "HEAD"); got != head {
			t.Errorf("HEAD moved")
		}
	}
	if got := r.git("status", "--porcelain"); got != "" {
		t.Errorf("git status = %q, want clean", got)
	}
}

// A merge in progress is not committed under: git merge --abort would not
// know of the commit.
func TestUpdateLocalRefusesDuringAMerge(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	r.commit("first", map[string]string{"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
	r.git("checkout", "-q", "-b", "dev")
	r.commit("on dev", map[string]string{"b.yaml": "b: 2\n"})
	r.git("checkout", "-q", "main")
	r.git("merge", "-q", "--no-ff", "--no-commit", "dev")
	head := r.git("rev-parse", "HEAD")
	repo := openRepo(t, Spec{Repo: r.dir})
	_, err := repo.Update(context.Background(), "", testAuthor, setFile("a.yaml", "a: 2\n", "Set a"))
	if err == nil || !strings.Contains(err.Error(), "a merge is in progress: finish or abort it first") {
		t.Fatalf("Update during a merge = %v; want a refusal", err)
	}
	t.Log(err)
	if got := r.git("rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved")
	}
}

// A branch kept only in packed-refs, as clones have them, moves too.
func TestUpdateLocalPackedRefs(t *testing.T) {
	isolateGit(t)
	r := newRepo(t)
	r.commit("first", map[string]string{"a.yaml": "a: 1\n"})
	r.git("pack-refs", "--all", "--prune")
	if _, err := os.Stat(filepath.Join(r.dir, ".git", "refs", "heads", "main")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("main is a loose ref: %v", err)
	}
	repo := openRepo(t, Spec{Repo: r.dir})
	res, err := repo.Update(context.Background(), "", testAuthor, setFile("a.yaml", "a: 2\n", "Set a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.git("rev-parse", "main"); got != res.Revision {
		t.Errorf("main = %s, want %s", got, res.Revision)
	}
	r.git("pack-refs", "--all", "--prune")
	if got := r.git("rev-parse", "main"); got != res.Revision {
		t.Errorf("main after git pack-refs = %s, want %s", got, res.Revision)
	}
}

func TestParseIndexVarint(t *testing.T) {
	// git's varint.c: 0..127 in one byte, 128 as 0x80 0x00, 16511 as 0xff 0x7f.
	for _, tt := range []struct {
		in   []byte
		want uint64
		n    int
	}{
		{[]byte{0}, 0, 1},
		{[]byte{0x7f}, 127, 1},
		{[]byte{0x80, 0x00}, 128, 2},
		{[]byte{0xff, 0x7f}, 16511, 2},
		{[]byte{0x80, 0x80, 0x00}, 16512, 3},
		{[]byte{0x80}, 0, 0},
		{nil, 0, 0},
	} {
		if v, n := decodeIndexVarint(tt.in); v != tt.want || n != tt.n {
			t.Errorf("decodeIndexVarint(%x) = %d, %d; want %d, %d", tt.in, v, n, tt.want, tt.n)
		}
	}
	if _, err := parseIndex(bytes.Repeat([]byte{0}, 40)); err == nil {
		t.Error("parseIndex of zeros: no error")
	}
}
