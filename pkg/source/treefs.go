package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/treepath"
)

// treeFS is the FS of a Snapshot: a read-only fs.FS over the tree of one
// commit.
//
// Entries map to files as a checkout would make them:
//   - files are regular files with mode 0644, or 0755 when executable;
//   - directories have mode fs.ModeDir|0755;
//   - symbolic links have mode fs.ModeSymlink|0777 in ReadDir and Lstat, and
//     ReadLink returns their target. Open, Stat, ReadFile and ReadDir follow
//     them, in any path component, when the target stays inside the tree; a
//     link that is absolute or climbs out of the tree cannot be followed and
//     gives an error (fs.ErrNotExist), as does a loop;
//   - submodules (gitlinks) are empty directories, as in a checkout without
//     --recurse-submodules: their content is in another repository.
//
// Every entry's ModTime is the commit's committer time: git keeps no file
// times, and this one does not change between reads of the same commit.
//
// Trees and blobs are read from the object store on demand; directory
// listings are kept once read. A mutex shared by all snapshots of one
// Repository serialises object store access, which go-git does not make
// safe for concurrent use.
type treeFS struct {
	store *objectStore
	mu    *sync.Mutex // store.mu, which also guards dirs
	s     storer.EncodedObjectStorer
	root  plumbing.Hash
	mtime time.Time
	dirs  map[plumbing.Hash]*treeDir // decoded trees
}

// treeDir is a decoded tree with its entries sorted by name, as fs.ReadDir
// wants them (git orders a directory "a" as if named "a/").
type treeDir struct {
	entries []treeEntry
}

type treeEntry struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
)

func newTreeFS(store *objectStore, root plumbing.Hash, mtime time.Time) *treeFS {
	return &treeFS{store: store, mu: &store.mu, s: store.s, root: root, mtime: mtime, dirs: map[plumbing.Hash]*treeDir{}}
}

func (e treeEntry) isDir() bool {
	return e.mode == filemode.Dir || e.mode == filemode.Submodule
}

func (e treeEntry) fileMode() fs.FileMode {
	switch e.mode {
	case filemode.Dir, filemode.Submodule:
		return fs.ModeDir | 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Executable:
		return 0o755
	default:
		return 0o644
	}
}

// Open opens name. Directories implement fs.ReadDirFile; files are read whole
// on Open and implement io.Seeker and io.ReaderAt.
func (f *treeFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	info := f.info(path.Base(name), e, -1)
	if e.isDir() {
		d, err := f.dir(e)
		if err != nil {
			return nil, pathErr("open", name, err)
		}
		return &openDir{fsys: f, info: info, entries: d.entries, path: name}, nil
	}
	data, err := f.blob(e.hash)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	info.size = int64(len(data))
	return &openFile{info: info, Reader: bytes.NewReader(data)}, nil
}

// ReadFile returns the content of the file name.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("readfile", name, true)
	if err != nil {
		return nil, err
	}
	if e.isDir() {
		return nil, pathErr("readfile", name, errIsDir)
	}
	data, err := f.blob(e.hash)
	if err != nil {
		return nil, pathErr("readfile", name, err)
	}
	return data, nil
}

// ReadDir returns the entries of the directory name, sorted by name.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !e.isDir() {
		return nil, pathErr("readdir", name, errNotDir)
	}
	d, err := f.dir(e)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	return f.dirEntries(d.entries), nil
}

// Stat describes name, following symbolic links.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	return f.stat("stat", name, true)
}

// Lstat describes name without following a final symbolic link.
func (f *treeFS) Lstat(name string) (fs.FileInfo, error) {
	return f.stat("lstat", name, false)
}

// ReadLink returns the target of the symbolic link name.
func (f *treeFS) ReadLink(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if e.mode != filemode.Symlink {
		return "", pathErr("readlink", name, fs.ErrInvalid)
	}
	target, err := f.blob(e.hash)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	return string(target), nil
}

func (f *treeFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup(op, name, follow)
	if err != nil {
		return nil, err
	}
	info := f.info(path.Base(name), e, -1)
	if err := f.fillSize(info); err != nil {
		return nil, pathErr(op, name, err)
	}
	return info, nil
}

var (
	errIsDir  = errors.New("is a directory")
	errNotDir = errors.New("not a directory")
)

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// lookup finds name, following symbolic links in its directories and, when
// follow is set, in its last element, by the rules of pkg/treepath: a link
// that leads outside the tree, is absolute or loops cannot be followed, and
// the error matches fs.ErrNotExist. The caller holds f.mu.
func (f *treeFS) lookup(op, name string, follow bool) (treeEntry, error) {
	root := treeEntry{name: ".", mode: filemode.Dir, hash: f.root}
	res, err := treepath.Resolve(walker{f}, root, name, treepath.Options{FollowLast: follow})
	if err != nil {
		return treeEntry{}, pathErr(op, name, err)
	}
	return res.Entry.Ref, nil
}

// walker is the treepath.Tree of a treeFS. The caller holds f.mu.
type walker struct{ f *treeFS }

func (w walker) Child(dir treeEntry, name string) (treepath.Entry[treeEntry], error) {
	d, err := w.f.dir(dir)
	if err != nil {
		return treepath.Entry[treeEntry]{}, err
	}
	e, ok := d.find(name)
	switch {
	case !ok:
		return treepath.Entry[treeEntry]{Kind: treepath.Missing}, nil
	case e.isDir():
		return treepath.Entry[treeEntry]{Ref: e, Kind: treepath.Dir}, nil
	case e.mode == filemode.Symlink:
		size, err := w.f.s.EncodedObjectSize(e.hash)
		if err != nil {
			return treepath.Entry[treeEntry]{}, fmt.Errorf("reading blob %s: %w", e.hash, err)
		}
		return treepath.Entry[treeEntry]{Ref: e, Kind: treepath.Link, Size: size}, nil
	}
	return treepath.Entry[treeEntry]{Ref: e, Kind: treepath.File}, nil
}

func (w walker) Target(l treeEntry) (string, error) {
	target, err := w.f.blob(l.hash)
	return string(target), err
}

func (d *treeDir) find(name string) (treeEntry, bool) {
	i, ok := slices.BinarySearchFunc(d.entries, name, func(e treeEntry, name string) int {
		return strings.Compare(e.name, name)
	})
	if !ok {
		return treeEntry{}, false
	}
	return d.entries[i], true
}

// dir returns the decoded tree of e; a submodule is empty. The caller holds
// f.mu.
func (f *treeFS) dir(e treeEntry) (*treeDir, error) {
	if e.mode == filemode.Submodule {
		return &treeDir{}, nil
	}
	if d, ok := f.dirs[e.hash]; ok {
		return d, nil
	}
	t, err := object.GetTree(f.s, e.hash)
	if err != nil {
		return nil, fmt.Errorf("reading tree %s: %w", e.hash, err)
	}
	d := &treeDir{entries: make([]treeEntry, 0, len(t.Entries))}
	for _, te := range t.Entries {
		d.entries = append(d.entries, treeEntry{name: te.Name, mode: te.Mode, hash: te.Hash})
	}
	slices.SortFunc(d.entries, func(a, b treeEntry) int { return strings.Compare(a.name, b.name) })
	f.dirs[e.hash] = d
	return d, nil
}

// blob reads a whole blob. The caller holds f.mu.
func (f *treeFS) blob(h plumbing.Hash) ([]byte, error) {
	obj, err := f.s.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", h, err)
	}
	defer r.Close()
	data := make([]byte, obj.Size())
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", h, err)
	}
	return data, nil
}

// info describes e; size -1 means not known yet (see fillSize).
func (f *treeFS) info(name string, e treeEntry, size int64) *fileInfo {
	if e.isDir() {
		size = 0
	}
	return &fileInfo{name: name, mode: e.fileMode(), mtime: f.mtime, size: size, hash: e.hash}
}

// fillSize reads a blob's size from the object store without its content.
// The caller holds f.mu.
func (f *treeFS) fillSize(info *fileInfo) error {
	if info.size >= 0 {
		return nil
	}
	size, err := f.s.EncodedObjectSize(info.hash)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", info.hash, err)
	}
	info.size = size
	return nil
}

func (f *treeFS) dirEntries(entries []treeEntry) []fs.DirEntry {
	out := make([]fs.DirEntry, len(entries))
	for i, e := range entries {
		out[i] = &dirEntry{fsys: f, info: f.info(e.name, e, -1)}
	}
	return out
}

type fileInfo struct {
	name  string
	mode  fs.FileMode
	mtime time.Time
	size  int64
	hash  plumbing.Hash
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.mtime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return nil }

// dirEntry reads its size only when Info is called.
type dirEntry struct {
	fsys *treeFS
	once sync.Once
	info *fileInfo
	err  error
}

func (d *dirEntry) Name() string      { return d.info.name }
func (d *dirEntry) IsDir() bool       { return d.info.IsDir() }
func (d *dirEntry) Type() fs.FileMode { return d.info.mode.Type() }
func (d *dirEntry) String() string    { return fs.FormatDirEntry(d) }

func (d *dirEntry) Info() (fs.FileInfo, error) {
	d.once.Do(func() {
		d.fsys.mu.Lock()
		defer d.fsys.mu.Unlock()
		d.err = d.fsys.fillSize(d.info)
	})
	if d.err != nil {
		return nil, d.err
	}
	return d.info, nil
}

// openFile is an opened file, read whole.
type openFile struct {
	info *fileInfo
	*bytes.Reader
}

func (f *openFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *openFile) Close() error               { return nil }

// openDir is an opened directory.
type openDir struct {
	fsys    *treeFS
	info    *fileInfo
	path    string
	entries []treeEntry
	offset  int
}

func (d *openDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *openDir) Close() error               { return nil }

func (d *openDir) Read([]byte) (int, error) {
	return 0, pathErr("read", d.path, errIsDir)
}

// ReadDir follows fs.ReadDirFile: n > 0 returns at most n entries and io.EOF
// at the end; n <= 0 returns all that remain.
func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.offset:]
	if n > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(n, len(rest))]
	}
	d.offset += len(rest)
	return d.fsys.dirEntries(rest), nil
}
