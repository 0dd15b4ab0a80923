//go:build unix

package generate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// commitTree commits files (path: content) and symbolic links (path:
// target) into a new git repository and returns the snapshot of that
// commit, as sync reads it.
func commitTree(t *testing.T, files, links map[string]string) *source.Snapshot {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("the workspace tests commit their trees with git, which is not on PATH (%v): install git", err)
	}
	dir := t.TempDir()
	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	git("init", "-q", "-b", "main")
	mkdir := func(p string) string {
		t.Helper()
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, data := range files {
		if err := os.WriteFile(mkdir(name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, mkdir(name)); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "-A")
	git("commit", "-q", "-m", "links")
	s, err := source.Open(t.Context(), source.Spec{Repo: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// linkChain returns links in dir that each look inside the tree by their
// text but, followed one after another, climb out of it (l0 -> .., l1 ->
// l0/.., ...) and end at the absolute path target.
func linkChain(dir, target string) map[string]string {
	links := map[string]string{dir + "/l0": ".."}
	for i := 1; i < 16; i++ {
		links[fmt.Sprintf("%s/l%d", dir, i)] = fmt.Sprintf("l%d/..", i-1)
	}
	links[dir+"/f"] = "l15" + target // target starts with a slash
	return links
}

// assertInside walks the workspace without following links and checks
// that every entry resolves inside its tree, and that no link's text is
// absolute or climbs out of the tree.
func assertInside(t *testing.T, w *Workspace) {
	t.Helper()
	root, err := filepath.EvalSymlinks(w.Root())
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		real, err := filepath.EvalSymlinks(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// a link to a file a program may write later
		case err != nil:
			t.Errorf("%s: %v", rel, err)
		case real != root && !strings.HasPrefix(real, root+string(filepath.Separator)):
			t.Errorf("%s resolves to %s, outside the workspace's tree %s", rel, real, root)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			text, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if filepath.IsAbs(text) || !fs.ValidPath(path.Join(path.Dir(filepath.ToSlash(rel)), filepath.ToSlash(text))) {
				t.Errorf("%s -> %s leads outside the tree", rel, text)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWorkspaceLinksCannotLeaveTheTree(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("the marker outside the tree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := linkChain("deploy", secret)
	for name, target := range map[string]string{
		"deploy/abs":       secret,                            // absolute
		"deploy/up":        "../../x",                         // out by its text
		"deploy/loop1":     "loop2",                           // a loop
		"deploy/loop2":     "loop1",                           //
		"deploy/via-chain": "l1/tree/shared/values",           // out and back in: refused
		"deploy/base":      "../shared",                       // a directory, up one level
		"deploy/values":    "base/values",                     // through another link
		"deploy/again":     "values",                          // a link to a link to a link
		"deploy/root":      "..",                              // the tree's root
		"deploy/dots":      "./../deploy/./base/../deploy/up", // base/.. is the root: then a refused link
		"deploy/later":     "out/generated.yaml",              // a file a program may write
		"deploy/nowhere":   "missing/../../..",                // climbs out once missing exists
		"deploy/file-dir":  "app.yaml/..",                     // a file is no directory
		"shared/back":      "../deploy/base/values",           // a file, through a link
	} {
		links[name] = target
	}
	s := commitTree(t, map[string]string{
		"deploy/app.yaml": "kind: ConfigMap\n",
		"shared/values":   "v\n",
	}, links)
	w, err := NewWorkspace(s.FS, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	assertInside(t, w)

	for _, name := range []string{"deploy/f", "deploy/l1", "deploy/l15", "deploy/abs", "deploy/up", "deploy/loop1", "deploy/via-chain", "deploy/dots", "deploy/nowhere", "deploy/file-dir"} {
		if _, err := os.Lstat(filepath.Join(w.Root(), name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was made in the workspace (%v)", name, err)
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(w.Root(), filepath.FromSlash(p)))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	for p, want := range map[string]string{
		"deploy/values": "v\n", "deploy/again": "v\n", "deploy/base/values": "v\n", "shared/back": "v\n",
		"deploy/root/deploy/app.yaml": "kind: ConfigMap\n", "deploy/l0/shared/values": "v\n",
	} {
		if got := read(p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	if err := os.MkdirAll(filepath.Join(w.Root(), "deploy", "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.Root(), "deploy", "out", "generated.yaml"), []byte("g"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := read("deploy/later"); got != "g" {
		t.Errorf("deploy/later: %q", got)
	}

	// A generator that reads the chain sees no such file, and its error
	// says why.
	cfg := testConfig(t, "generators:\n  - name: read\n    command: [sh, -c, 'cat f']\n")
	out, err := w.Generate(t.Context(), cfg, cfg.Generators[0], "deploy")
	if strings.Contains(string(out), "marker") || err == nil {
		t.Fatalf("the generator read %q (%v)", out, err)
	}
	for _, want := range []string{"No such file", "deploy/f (a symbolic link leading outside the repository)", "deploy/abs (a symbolic link to an absolute path)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// sizedFS is a tree whose files in big have the given size, all zeros,
// made up as they are read; read counts the bytes read from them.
type sizedFS struct {
	fstest.MapFS
	big  map[string]int64 // name: size
	lie  map[string]bool  // say the size is 1 byte
	read atomic.Int64
}

type zeroFile struct {
	fsys      *sizedFS
	name      string
	size, off int64
	statSize  int64
}

func (f *zeroFile) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.size-f.off))
	clear(p[:n])
	f.off += int64(n)
	f.fsys.read.Add(int64(n))
	return n, nil
}
func (f *zeroFile) Close() error               { return nil }
func (f *zeroFile) Stat() (fs.FileInfo, error) { return sizedInfo{path.Base(f.name), f.statSize}, nil }

type sizedInfo struct {
	name string
	size int64
}

func (i sizedInfo) Name() string               { return i.name }
func (i sizedInfo) Size() int64                { return i.size }
func (i sizedInfo) Mode() fs.FileMode          { return 0o644 }
func (i sizedInfo) ModTime() time.Time         { return time.Time{} }
func (i sizedInfo) IsDir() bool                { return false }
func (i sizedInfo) Sys() any                   { return nil }
func (i sizedInfo) Type() fs.FileMode          { return 0 }
func (i sizedInfo) Info() (fs.FileInfo, error) { return i, nil }

func (f *sizedFS) statSize(name string) int64 {
	if f.lie[name] {
		return 1
	}
	return f.big[name]
}

func (f *sizedFS) Open(name string) (fs.File, error) {
	if n, ok := f.big[name]; ok {
		return &zeroFile{fsys: f, name: name, size: n, statSize: f.statSize(name)}, nil
	}
	return f.MapFS.Open(name)
}

func (f *sizedFS) ReadFile(name string) ([]byte, error) {
	if _, ok := f.big[name]; ok {
		file, _ := f.Open(name)
		return io.ReadAll(file)
	}
	return f.MapFS.ReadFile(name)
}

func (f *sizedFS) Stat(name string) (fs.FileInfo, error) {
	if _, ok := f.big[name]; ok {
		return sizedInfo{path.Base(name), f.statSize(name)}, nil
	}
	return f.MapFS.Stat(name)
}

func (f *sizedFS) Lstat(name string) (fs.FileInfo, error) {
	if _, ok := f.big[name]; ok {
		return f.Stat(name)
	}
	return f.MapFS.Lstat(name)
}

func (f *sizedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := f.MapFS.ReadDir(name)
	for i, e := range entries {
		p := path.Join(name, e.Name())
		if _, ok := f.big[p]; ok {
			entries[i] = sizedInfo{e.Name(), f.statSize(p)}
		}
	}
	return entries, err
}

func TestWorkspaceLeavesOutLargeFiles(t *testing.T) {
	fsys := &sizedFS{
		MapFS: fstest.MapFS{
			"deploy/app.yaml":      {Data: []byte("a")},
			"assets/video.mp4":     {},
			"deploy/vars.env":      {Data: []byte("X=1\n")},
			"deploy/.gitops.yaml":  {Data: []byte("x")},
			"assets/small.txt":     {Data: []byte("s")},
			"deploy/link-to-video": {Data: []byte("../assets/video.mp4"), Mode: fs.ModeSymlink},
		},
		big: map[string]int64{"assets/video.mp4": 3 << 29}, // 1.5 GiB
	}
	tmp := t.TempDir()
	w, err := NewWorkspace(fsys, Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if n := fsys.read.Load(); n != 0 {
		t.Errorf("%d bytes of the 1.5 GiB file were read", n)
	}
	if _, err := os.Lstat(filepath.Join(w.Root(), "assets", "video.mp4")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the large file is in the workspace (%v)", err)
	}
	if b, err := os.ReadFile(filepath.Join(w.Root(), "assets", "small.txt")); err != nil || string(b) != "s" {
		t.Errorf("small.txt: %q, %v", b, err)
	}

	// A program that reads it fails, and the error names the file and the limit.
	cfg := testConfig(t, "generators:\n  - name: read\n    command: [cat, ../assets/video.mp4]\n")
	_, err = w.Generate(t.Context(), cfg, cfg.Generators[0], "deploy")
	if err == nil || !strings.Contains(err.Error(), "assets/video.mp4 (larger than the 64 MiB limit for a file)") {
		t.Errorf("error: %v", err)
	}
	// Updaters' edits: the file left out is not a removal, and is not read.
	changes, err := w.Changes(fsys)
	if err != nil || len(changes) != 0 {
		t.Errorf("changes: %v, %v", changes, err)
	}
	if n := fsys.read.Load(); n != 0 {
		t.Errorf("%d bytes of the 1.5 GiB file were read", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("the workspace is still there: %v", entries)
	}
}

func TestWorkspaceSizeLimits(t *testing.T) {
	// A file that says it is small but is not is cut off at the limit.
	fsys := &sizedFS{
		MapFS: fstest.MapFS{
			"a/liar": {}, "a/ok": {Data: []byte("ok")},
			"a/long": {Data: []byte(strings.Repeat("./", 2100) + "ok"), Mode: fs.ModeSymlink}, // longer than PATH_MAX
		},
		big: map[string]int64{"a/liar": 1 << 40},
		lie: map[string]bool{"a/liar": true},
	}
	tmp := t.TempDir()
	w, err := newWorkspace(fsys, Options{TempDir: tmp}, limits{file: 1000, tree: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if n := fsys.read.Load(); n > 1001 {
		t.Errorf("%d bytes were read from a file over the 1000 byte limit", n)
	}
	if _, err := os.Lstat(filepath.Join(w.Root(), "a", "liar")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the large file is in the workspace (%v)", err)
	}
	if len(w.omitted) != 2 || w.omitted[0].path != "a/liar" || w.omitted[1] != (omitted{"a/long", "a symbolic link with an invalid target"}) {
		t.Errorf("omitted: %v", w.omitted)
	}
	// A program's edit over the limit is not read back to be committed.
	if err := os.WriteFile(filepath.Join(w.Root(), "a", "ok"), []byte(strings.Repeat("x", 2000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Changes(fsys); err == nil || !strings.Contains(err.Error(), "a/ok grew to 2000 bytes, more than the 1000 bytes limit for a file") {
		t.Errorf("changes: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Files within the limit that are too many in all: an error, and
	// nothing is left on disk.
	many := fstest.MapFS{}
	for i := range 8 {
		many[fmt.Sprintf("data/f%d", i)] = &fstest.MapFile{Data: []byte(strings.Repeat("x", 900))}
	}
	_, err = newWorkspace(many, Options{TempDir: tmp}, limits{file: 1000, tree: 5000})
	if err == nil || !strings.Contains(err.Error(), "more than 5000 bytes") || !strings.Contains(err.Error(), "data/f5") {
		t.Errorf("error: %v", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("a workspace was left behind: %v", entries)
	}
}

func TestWorkspaceIsRemovedAfterAFailureOrATimeout(t *testing.T) {
	tmp := t.TempDir()
	cfg := testConfig(t, `generators:
  - name: fails
    command: [sh, -c, 'mkdir -p ro/x && touch ro/x/f && chmod 555 ro/x ro; exit 1']
  - name: slow
    timeout: 200ms
    command: [sh, -c, '(i=0; while :; do i=$((i+1)); touch "x$i"; sleep 0.01; done) & sleep 30']
`)
	for _, g := range cfg.Generators {
		w, err := NewWorkspace(fstest.MapFS{"deploy/a.yaml": {Data: []byte("a")}}, Options{TempDir: tmp})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		_, err = w.Generate(ctx, cfg, g, "deploy")
		cancel()
		if err == nil {
			t.Fatalf("%s: no error", g.Name)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("%s: the workspace is still there: %v", g.Name, entries)
		}
	}
}
