package render

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// commitFS is the file system kustomize reads: the tree of the commit,
// rooted at "/", read lazily, one file when kustomize asks for it, instead
// of a copy of the whole tree. It is read-only. Symbolic links are not
// followed, as they were not copied before: a path through one does not
// exist. Every file read is checked with yamlguard.Check before kustomize
// gets its bytes, since kustomize parses what it reads as YAML whatever
// the file's name.
type commitFS struct {
	fsys fs.FS
}

var _ filesys.FileSystem = commitFS{}

var errReadOnly = errors.New("the commit is read-only: kustomize may not write into it")

// name turns a kustomize path, absolute or relative to the root, into a
// path of fsys ("." for the root).
func (c commitFS) name(p string) string {
	p = path.Clean("/" + filepath.ToSlash(p))
	if p == "/" {
		return "."
	}
	return p[1:]
}

// lstat describes name without following symbolic links in any of its
// elements.
func (c commitFS) lstat(op, p string) (fs.FileInfo, error) {
	name := c.name(p)
	if name == "." {
		return fs.Stat(c.fsys, name)
	}
	var info fs.FileInfo
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		var err error
		if info, err = fs.Lstat(c.fsys, name[:i]); err != nil {
			return nil, err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s is a symbolic link, which kustomize does not follow here: %w", name[:i], fs.ErrNotExist)}
		}
	}
	return info, nil
}

func (c commitFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (c commitFS) Mkdir(string) error                  { return errReadOnly }
func (c commitFS) MkdirAll(string) error               { return errReadOnly }
func (c commitFS) RemoveAll(string) error              { return errReadOnly }
func (c commitFS) WriteFile(string, []byte) error      { return errReadOnly }

func (c commitFS) Open(p string) (filesys.File, error) {
	data, err := c.ReadFile(p)
	if err != nil {
		return nil, err
	}
	info, err := c.lstat("open", p)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(data), info: info}, nil
}

func (c commitFS) IsDir(p string) bool {
	info, err := c.lstat("stat", p)
	return err == nil && info.IsDir()
}

func (c commitFS) Exists(p string) bool {
	_, err := c.lstat("stat", p)
	return err == nil
}

func (c commitFS) ReadDir(p string) ([]string, error) {
	if _, err := c.lstat("readdir", p); err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(c.fsys, c.name(p))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// CleanedAbs splits the absolute form of p into its directory and file
// name, the name being "" when p is a directory, as kustomize's in-memory
// file system does.
func (c commitFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	info, err := c.lstat("stat", p)
	if err != nil {
		return "", "", err
	}
	abs := "/" + c.name(p)
	if c.name(p) == "." {
		abs = "/"
	}
	if info.IsDir() {
		return filesys.ConfirmedDir(filepath.FromSlash(abs)), "", nil
	}
	return filesys.ConfirmedDir(filepath.FromSlash(path.Dir(abs))), path.Base(abs), nil
}

func (c commitFS) Glob(pattern string) ([]string, error) {
	matches, err := fs.Glob(c.fsys, c.name(pattern))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		if info, err := c.lstat("glob", m); err == nil && !info.IsDir() {
			out = append(out, "/"+m)
		}
	}
	return out, nil
}

// ReadFile reads the file p, refusing one larger than
// yamlguard.MaxFileSize before reading it and one that yamlguard.Check
// refuses after.
func (c commitFS) ReadFile(p string) ([]byte, error) {
	info, err := c.lstat("read", p)
	if err != nil {
		return nil, err
	}
	name := c.name(p)
	if info.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	if !info.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("not a regular file")}
	}
	if info.Size() > yamlguard.MaxFileSize {
		return nil, &yamlguard.Error{File: name, Msg: fmt.Sprintf("the file has %d MiB, more than the %d MiB allowed", info.Size()>>20, yamlguard.MaxFileSize>>20)}
	}
	data, err := fs.ReadFile(c.fsys, name)
	if err != nil {
		return nil, err
	}
	if err := yamlguard.Check(name, data); err != nil {
		return nil, err
	}
	return data, nil
}

func (c commitFS) Walk(p string, walkFn filepath.WalkFunc) error {
	root := c.name(p)
	return fs.WalkDir(c.fsys, root, func(name string, e fs.DirEntry, err error) error {
		abs := "/" + name
		if name == "." {
			abs = "/"
		}
		if err != nil {
			return walkFn(filepath.FromSlash(abs), nil, err)
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return walkFn(filepath.FromSlash(abs), nil, err)
		}
		return walkFn(filepath.FromSlash(abs), info, nil)
	})
}

// memFile is a file read whole, for Open.
type memFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *memFile) Write([]byte) (int, error)  { return 0, errReadOnly }
func (f *memFile) Close() error               { return nil }
func (f *memFile) Stat() (os.FileInfo, error) { return f.info, nil }
