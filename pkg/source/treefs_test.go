package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// fsRepo commits a tree with every kind of entry and returns its snapshot.
func fsRepo(t *testing.T) *Snapshot {
	t.Helper()
	r := newRepo(t)
	r.write(map[string]string{
		"a":                      "", // empty
		"a-b/x.yaml":             "x: 1\n",
		"a.b":                    "dot\n",
		"base/kustomization.yml": "resources: [deploy.yaml]\n",
		"base/deploy.yaml":       "kind: Deployment\n",
		"deep/er/still/file.txt": "deep\n",
		"run.sh":                 "#!/bin/sh\necho hi\n",
	})
	if err := os.Chmod(filepath.Join(r.dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"overlay/base":     "../base",             // a directory, up one level
		"overlay/patch.ya": "../base/deploy.yaml", // a file through a path
		"link-to-link":     "overlay/base",        // a link to a link
	} {
		p := filepath.Join(r.dir, filepath.FromSlash(link))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	r.git("add", "-A")
	// A submodule entry (gitlink), without its repository.
	r.git("update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("1", 40)+",vendor/sub")
	r.git("commit", "-q", "-m", "every kind of entry")
	s, err := Open(context.Background(), Spec{Repo: r.dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFSPassesFstest(t *testing.T) {
	s := fsRepo(t)
	if err := fstest.TestFS(s.FS,
		"a", "a-b/x.yaml", "a.b", "base/kustomization.yml", "base/deploy.yaml",
		"deep/er/still/file.txt", "run.sh", "overlay/base", "overlay/patch.ya",
		"link-to-link", "vendor/sub",
	); err != nil {
		t.Fatal(err)
	}
}

func TestFSEntries(t *testing.T) {
	s := fsRepo(t)
	commitTime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

	entries, err := fs.ReadDir(s.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, fmt.Sprintf("%s:%s", e.Name(), e.Type()))
	}
	// Sorted by name ("a-b" before "a.b" before "base"), not in git's tree
	// order.
	if got, want := strings.Join(names, " "), "a:---------- a-b:d--------- a.b:---------- base:d--------- deep:d--------- link-to-link:L--------- overlay:d--------- run.sh:---------- vendor:d---------"; got != want {
		t.Errorf("ReadDir(.) =\n %s\nwant\n %s", got, want)
	}

	tests := []struct {
		name  string
		lstat bool
		size  int64
		mode  fs.FileMode
	}{
		{"a", false, 0, 0o644},
		{"run.sh", false, 18, 0o755},
		{"base", false, 0, fs.ModeDir | 0o755},
		{"base/deploy.yaml", false, 17, 0o644},
		{"overlay/patch.ya", false, 17, 0o644},                 // followed
		{"overlay/patch.ya", true, 19, fs.ModeSymlink | 0o777}, // the link: its target's length
		{"overlay/base", false, 0, fs.ModeDir | 0o755},         // followed
		{"link-to-link", false, 0, fs.ModeDir | 0o755},         // followed twice
		{"link-to-link/deploy.yaml", false, 17, 0o644},         // through two links
		{"overlay/base/kustomization.yml", false, 25, 0o644},   // through a link to a directory
		{"vendor/sub", false, 0, fs.ModeDir | 0o755},           // a submodule: empty directory
		{"deep/er/still/file.txt", false, 5, 0o644},
	}
	for _, tt := range tests {
		var info fs.FileInfo
		var err error
		if tt.lstat {
			info, err = s.FS.(fs.ReadLinkFS).Lstat(tt.name)
		} else {
			info, err = fs.Stat(s.FS, tt.name)
		}
		if err != nil {
			t.Errorf("stat %s: %v", tt.name, err)
			continue
		}
		if info.Size() != tt.size || info.Mode() != tt.mode || !info.ModTime().Equal(commitTime) || info.Name() != filepath.Base(tt.name) {
			t.Errorf("stat %s (lstat %v) = %s %d %s %s, want %d %s at %s",
				tt.name, tt.lstat, info.Name(), info.Size(), info.Mode(), info.ModTime(), tt.size, tt.mode, commitTime)
		}
	}

	if got := readFile(t, s, "link-to-link/deploy.yaml"); got != "kind: Deployment\n" {
		t.Errorf("link-to-link/deploy.yaml = %q", got)
	}
	if target, err := fs.ReadLink(s.FS, "overlay/base"); err != nil || target != "../base" {
		t.Errorf("ReadLink(overlay/base) = %q, %v; want ../base", target, err)
	}
	if sub, err := fs.ReadDir(s.FS, "vendor/sub"); err != nil || len(sub) != 0 {
		t.Errorf("ReadDir(vendor/sub) = %v, %v; want an empty directory", sub, err)
	}
	if _, err := fs.ReadFile(s.FS, "base"); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
	if _, err := fs.ReadDir(s.FS, "a.b"); err == nil {
		t.Error("ReadDir of a file succeeded")
	}
	for _, bad := range []string{"/a", "../a", "a/", "./a", ""} {
		if _, err := s.FS.Open(bad); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) error = %v, want fs.ErrInvalid", bad, err)
		}
	}
	for _, missing := range []string{"nope", "a/b", "base/nope", "run.sh/x"} {
		if _, err := fs.Stat(s.FS, missing); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) error = %v, want fs.ErrNotExist", missing, err)
		}
	}
}

// Links that leave the tree, dangle or loop cannot be followed, but can be
// listed and read with ReadLink.
func TestFSBadSymlinks(t *testing.T) {
	r := newRepo(t)
	for link, target := range map[string]string{
		"abs":      "/etc/passwd",
		"escape":   "../outside",
		"escape2":  "d/../../outside",
		"dangling": "nope",
		"loop1":    "loop2",
		"loop2":    "loop1",
		"d/up":     "..", // stays inside: the root
	} {
		p := filepath.Join(r.dir, filepath.FromSlash(link))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	r.commit("bad links", nil)
	s, err := Open(context.Background(), Spec{Repo: r.dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"abs", "escape", "escape2", "dangling", "loop1"} {
		_, err := fs.ReadFile(s.FS, name)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%s) error = %v, want fs.ErrNotExist", name, err)
		}
		t.Logf("ReadFile(%s): %v", name, err)
		if _, err := s.FS.(fs.ReadLinkFS).Lstat(name); err != nil {
			t.Errorf("Lstat(%s): %v", name, err)
		}
	}
	if _, err := fs.ReadFile(s.FS, "d/up/d/up/dangling"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile through d/up: %v", err)
	}
	if entries, err := fs.ReadDir(s.FS, "d/up"); err != nil || len(entries) != 7 {
		t.Errorf("ReadDir(d/up) = %d entries, %v; want the root's 7", len(entries), err)
	}
}

// Many goroutines read one snapshot, and two snapshots of one repository, at
// once (run with -race).
func TestFSConcurrentReads(t *testing.T) {
	r := newRepo(t)
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("d%d/f%d.yaml", i%5, i)] = fmt.Sprintf("n: %d\n", i)
	}
	r.commit("many", files)
	repo, err := OpenRepository(context.Background(), Spec{Repo: r.dir})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := repo.Snapshot("")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := repo.Snapshot("main")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 8 {
		wg.Go(func() {
			s := s1
			if g%2 == 1 {
				s = s2
			}
			for name, want := range files {
				got, err := fs.ReadFile(s.FS, name)
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("%s = %q, %w; want %q", name, got, err, want)
					return
				}
			}
			err := fs.WalkDir(s.FS, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				_, err = d.Info()
				return err
			})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
