package images

import (
	"bytes"
	"io/fs"
	"slices"
)

// overlay is a tree with the content of some of its files replaced: the
// tree an edit would commit.
type overlay struct {
	base  fs.FS
	files map[string][]byte // slash paths to their new content
}

func (o overlay) Open(name string) (fs.File, error) {
	data, ok := o.files[name]
	if !ok {
		return o.base.Open(name)
	}
	info, err := fs.Stat(o.base, name)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(data), info: sizedInfo{info, int64(len(data))}}, nil
}

func (o overlay) ReadFile(name string) ([]byte, error) {
	if data, ok := o.files[name]; ok {
		return slices.Clone(data), nil
	}
	return fs.ReadFile(o.base, name)
}

func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(o.base, name) }

func (o overlay) ReadLink(name string) (string, error) { return fs.ReadLink(o.base, name) }

func (o overlay) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(o.base, name) }

type memFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *memFile) Close() error { return nil }

type sizedInfo struct {
	fs.FileInfo
	size int64
}

func (i sizedInfo) Size() int64 { return i.size }
