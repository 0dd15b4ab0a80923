package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// A snapshot of a local repository holds what was committed, never what is
// in the work tree or the index.
func TestLocalSeesOnlyTheCommit(t *testing.T) {
	r := newRepo(t)
	sha := r.commit("Add the app\n\nWith a body.", map[string]string{
		"app/deploy.yaml":  "kind: Deployment\n",
		"app/service.yaml": "kind: Service\n",
	})
	r.write(map[string]string{
		"app/deploy.yaml": "kind: Deployment # edited, not committed\n",
		"untracked.yaml":  "kind: ConfigMap\n",
		"staged.yaml":     "kind: Secret\n",
	})
	r.git("add", "staged.yaml")
	if err := os.Remove(filepath.Join(r.dir, "app", "service.yaml")); err != nil {
		t.Fatal(err)
	}

	for _, repo := range []string{r.dir, filepath.Join(r.dir, "app"), filepath.Join(r.dir, ".git")} {
		t.Run(filepath.Base(repo), func(t *testing.T) {
			s, err := Open(context.Background(), Spec{Repo: repo})
			if err != nil {
				t.Fatal(err)
			}
			if s.Revision != sha || s.Ref != "" || s.Subject != "Add the app" || s.Repo != repo {
				t.Errorf("snapshot = %+v, want revision %s, ref \"\", subject %q, repo %s", s, sha, "Add the app", repo)
			}
			if got := readFile(t, s, "app/deploy.yaml"); got != "kind: Deployment\n" {
				t.Errorf("app/deploy.yaml = %q, want the committed content", got)
			}
			if got := readFile(t, s, "app/service.yaml"); got != "kind: Service\n" {
				t.Errorf("app/service.yaml = %q, want the committed content although the file was deleted", got)
			}
			for _, name := range []string{"untracked.yaml", "staged.yaml"} {
				if _, err := fs.Stat(s.FS, name); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Stat(%s) = %v, want fs.ErrNotExist: only committed files may be seen", name, err)
				}
			}
			entries, err := fs.ReadDir(s.FS, ".")
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name() != "app" || !entries[0].IsDir() {
				t.Errorf("ReadDir(.) = %v, want only the directory app", entries)
			}
		})
	}
}

func TestLocalBareRepository(t *testing.T) {
	r := newRepo(t)
	sha := r.commit("one", map[string]string{"a.yaml": "a: 1\n"})
	bare := filepath.Join(t.TempDir(), "bare.git")
	runGit(t, r.dir, r.env, "clone", "-q", "--bare", r.dir, bare)

	s, err := Open(context.Background(), Spec{Repo: bare})
	if err != nil {
		t.Fatal(err)
	}
	if s.Revision != sha || readFile(t, s, "a.yaml") != "a: 1\n" {
		t.Errorf("snapshot of the bare repository = %s, want %s with a.yaml", s.Revision, sha)
	}
}

func TestLocalNotARepository(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(context.Background(), Spec{Repo: dir})
	if err == nil || !strings.Contains(err.Error(), "is not a git repository") || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open(%s) error = %v, want one saying it is not a git repository", dir, err)
	}
	r := newRepo(t) // no commits
	_, err = Open(context.Background(), Spec{Repo: r.dir})
	if err == nil || !strings.Contains(err.Error(), "no commits") {
		t.Errorf("Open of a repository without commits: error = %v, want one saying HEAD has no commits", err)
	}
}

func TestResolveRefs(t *testing.T) {
	r := newRepo(t)
	first := r.commit("first", map[string]string{"v.txt": "1"})
	r.git("tag", "v1")                           // lightweight
	r.git("tag", "-a", "v1-annotated", "-m", "") // annotated, on first
	r.git("checkout", "-q", "-b", "feature")
	feature := r.commit("on feature", map[string]string{"v.txt": "feature"})
	r.git("checkout", "-q", "main")
	second := r.commit("second", map[string]string{"v.txt": "2"})
	r.git("tag", "-a", "v2", "-m", "release 2")
	r.git("update-ref", "refs/remotes/origin/only-remote", first)
	r.git("tag", "-a", "tag-of-tag", "-m", "nested", "v2") // an annotated tag of an annotated tag

	tests := []struct {
		ref, wantSHA, wantRef, wantFile string
	}{
		{"", second, "", "2"},
		{"HEAD", second, "", "2"},
		{"main", second, "refs/heads/main", "2"},
		{"feature", feature, "refs/heads/feature", "feature"},
		{"refs/heads/feature", feature, "refs/heads/feature", "feature"},
		{"origin/only-remote", first, "refs/remotes/origin/only-remote", "1"},
		{"only-remote", first, "refs/remotes/origin/only-remote", "1"},
		{"v1", first, "refs/tags/v1", "1"},
		{"v1-annotated", first, "refs/tags/v1-annotated", "1"},
		{"v2", second, "refs/tags/v2", "2"},
		{"tag-of-tag", second, "refs/tags/tag-of-tag", "2"},
		{first, first, "", "1"},
		{first[:7], first, "", "1"},
		{strings.ToUpper(feature[:9]), feature, "", "feature"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.ref), func(t *testing.T) {
			s, err := Open(context.Background(), Spec{Repo: r.dir, Ref: tt.ref})
			if err != nil {
				t.Fatal(err)
			}
			if s.Revision != tt.wantSHA || s.Ref != tt.wantRef {
				t.Errorf("Open(ref %q) = revision %s ref %q, want %s %q", tt.ref, s.Revision, s.Ref, tt.wantSHA, tt.wantRef)
			}
			if got := readFile(t, s, "v.txt"); got != tt.wantFile {
				t.Errorf("v.txt = %q, want %q", got, tt.wantFile)
			}
		})
	}

	t.Run("unknown ref", func(t *testing.T) {
		_, err := Open(context.Background(), Spec{Repo: r.dir, Ref: "nope"})
		t.Log(err)
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			t.Fatalf("error = %v, want one wrapping plumbing.ErrReferenceNotFound", err)
		}
		for _, want := range []string{`"nope"`, r.dir, "branches: feature, main, origin/only-remote"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})
	t.Run("invalid ref", func(t *testing.T) {
		for _, ref := range []string{"main~1", "../../config", "a b", "refs/heads/../x"} {
			_, err := Open(context.Background(), Spec{Repo: r.dir, Ref: ref})
			if err == nil || !strings.Contains(err.Error(), "not a valid ref") {
				t.Errorf("Open(ref %q) error = %v, want one saying it is not a valid ref", ref, err)
			}
		}
	})
	t.Run("unknown full sha", func(t *testing.T) {
		_, err := Open(context.Background(), Spec{Repo: r.dir, Ref: strings.Repeat("ab", 20)})
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			t.Fatalf("error = %v, want one wrapping plumbing.ErrReferenceNotFound", err)
		}
	})
	t.Run("a tree is not a commit", func(t *testing.T) {
		tree := r.git("rev-parse", "HEAD^{tree}")
		r.git("tag", "tree-tag", tree)
		_, err := Open(context.Background(), Spec{Repo: r.dir, Ref: "tree-tag"})
		if err == nil || !strings.Contains(err.Error(), "not a commit") {
			t.Fatalf("error = %v, want one saying the tag is not a commit", err)
		}
	})
	t.Run("short sha that is also a branch", func(t *testing.T) {
		r.git("branch", first[:8], second)
		_, err := Open(context.Background(), Spec{Repo: r.dir, Ref: first[:8]})
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "both the short sha") {
			t.Fatalf("error = %v, want one about the ambiguity", err)
		}
		// Full names stay unambiguous.
		s, err := Open(context.Background(), Spec{Repo: r.dir, Ref: "refs/heads/" + first[:8]})
		if err != nil || s.Revision != second {
			t.Fatalf("refs/heads/%s = %v, %v; want %s", first[:8], s, err, second)
		}
	})
}

// Short shas shared by two commits are an error, not a pick.
func TestResolveAmbiguousShortSHA(t *testing.T) {
	r := newRepo(t)
	// 1000 commits in one process: two of them almost surely share their
	// first four hex digits (and with fixed dates the shas are fixed).
	var in strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&in, "commit refs/heads/main\ncommitter C <c@example.com> 1700000000 +0000\ndata %d\nc%03d\n", 5, i)
		in.WriteString("\n")
	}
	cmd := execGit(r, "fast-import", "--quiet")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	var dup string
	for _, sha := range strings.Fields(r.git("rev-list", "main")) {
		if seen[sha[:4]] {
			dup = sha[:4]
			break
		}
		seen[sha[:4]] = true
	}
	if dup == "" {
		t.Fatal("no two of the 1000 fixed commits share a 4-digit prefix: change the commits until two do")
	}
	_, err := Open(context.Background(), Spec{Repo: r.dir, Ref: dup})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("Open(ref %s) error = %v, want an ambiguity error", dup, err)
	}
}

// A linked work tree (git worktree add) reads its own HEAD and the main
// repository's objects.
func TestLocalLinkedWorktree(t *testing.T) {
	r := newRepo(t)
	r.commit("on main", map[string]string{"f": "main"})
	wt := filepath.Join(t.TempDir(), "wt")
	r.git("worktree", "add", "-q", "-b", "side", wt)
	runGit(t, wt, r.env, "commit", "-q", "--allow-empty", "-m", "on side")
	want := runGit(t, wt, r.env, "rev-parse", "HEAD")

	s, err := Open(context.Background(), Spec{Repo: wt})
	if err != nil {
		t.Fatal(err)
	}
	if s.Revision != want || s.Subject != "on side" || readFile(t, s, "f") != "main" {
		t.Errorf("snapshot of the linked work tree = %s %q, want %s \"on side\"", s.Revision, s.Subject, want)
	}
}
