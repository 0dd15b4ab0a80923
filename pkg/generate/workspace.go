package generate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// Workspace is a writable copy of a commit's tree on disk, where the
// programs of a config run. The copy is of the whole tree, since a
// generator may read any file of the repository (a base in ../base, a
// shared values file), and programs may write into it; nothing is written
// back. Close removes it.
//
// Its directory holds the copy (Root), and the HOME and TMPDIR the
// programs are given, all removed by Close.
type Workspace struct {
	opts Options
	dir  string
	root string
	home string
	tmp  string
	path string
}

// NewWorkspace copies fsys, such as a commit's tree, into a new temporary
// directory: regular files (executable ones stay executable), directories,
// and symbolic links whose target stays inside the tree. Other links are
// left out.
func NewWorkspace(fsys fs.FS, opts Options) (*Workspace, error) {
	dir, err := os.MkdirTemp(opts.TempDir, "kubectl-gitops-generate-")
	if err != nil {
		return nil, fmt.Errorf("making a workspace for generators: %w", err)
	}
	w := &Workspace{
		opts: opts,
		dir:  dir,
		root: filepath.Join(dir, "tree"),
		home: filepath.Join(dir, "home"),
		tmp:  filepath.Join(dir, "tmp"),
		path: opts.Path,
	}
	if w.path == "" {
		w.path = os.Getenv("PATH")
	}
	for _, d := range []string{w.home, w.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("making a workspace for generators: %w", err)
		}
	}
	if err := copyTree(fsys, w.root); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("copying the tree into a workspace for generators: %w", err)
	}
	return w, nil
}

// Root returns the directory holding the copy of the tree.
func (w *Workspace) Root() string { return w.root }

// Close removes the workspace, with whatever the programs left in it.
func (w *Workspace) Close() error {
	if err := os.RemoveAll(w.dir); err == nil {
		return nil
	}
	// Programs may leave read-only directories (Go's module cache does).
	_ = filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(w.dir)
}

// WriteFiles writes files (slash paths from the root to their content)
// into the copy, as edits of it.
func (w *Workspace) WriteFiles(files map[string][]byte) error {
	for name, data := range files {
		if !fs.ValidPath(name) {
			return fmt.Errorf("invalid path %q", name)
		}
		p := filepath.Join(w.root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Changes returns the regular files of base, the tree the workspace was
// made from, whose content differs in the copy, with their new content.
// A file removed from the copy is an error, as only edits of existing
// files can be committed; files the programs created are not looked at.
func (w *Workspace) Changes(base fs.FS) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := fs.WalkDir(base, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		cur, err := os.ReadFile(filepath.Join(w.root, filepath.FromSlash(p)))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s was removed; only edits of existing files can be committed", p)
		}
		if err != nil {
			return err
		}
		old, err := fs.ReadFile(base, p)
		if err != nil {
			return err
		}
		if !bytes.Equal(old, cur) {
			out[p] = cur
		}
		return nil
	})
	return out, err
}

// copyTree copies fsys into dir, which must not exist.
func copyTree(fsys fs.FS, dir string) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := fs.ReadLink(fsys, p)
			if err != nil {
				return nil // the tree cannot say where it goes: leave it out
			}
			if !linkStaysInside(p, link) {
				return nil
			}
			return os.Symlink(filepath.FromSlash(link), target)
		case d.Type().IsRegular():
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			perm := fs.FileMode(0o644)
			if info.Mode()&0o111 != 0 {
				perm = 0o755
			}
			return os.WriteFile(target, data, perm)
		}
		return nil
	})
}

// linkStaysInside says whether the symbolic link at p, pointing to link,
// resolves inside the tree (judged by its text; a link through another
// link is judged when that one is).
func linkStaysInside(p, link string) bool {
	if link == "" || path.IsAbs(link) || filepath.IsAbs(link) || strings.Contains(link, `\`) {
		return false
	}
	resolved := path.Join(path.Dir(p), link)
	return fs.ValidPath(resolved)
}

// env is the environment of a program: nothing of this process's but PATH.
func (w *Workspace) env(cfg *Config, dir string, extra ...string) []string {
	env := []string{
		"PATH=" + w.path,
		"HOME=" + w.home,
		"TMPDIR=" + w.tmp,
		"LANG=C",
		"KUBECTL_GITOPS_ROOT=" + w.root,
		"KUBECTL_GITOPS_PATH=" + dir,
		"KUBECTL_GITOPS_CONFIG=" + cfg.File,
	}
	if w.opts.Revision != "" {
		env = append(env, "KUBECTL_GITOPS_REVISION="+w.opts.Revision)
	}
	if w.opts.Namespace != "" {
		env = append(env, "KUBECTL_GITOPS_NAMESPACE="+w.opts.Namespace)
	}
	if runtime.GOOS == "windows" {
		// Windows programs need these to start at all.
		env = append(env, "SystemRoot="+os.Getenv("SystemRoot"), "TEMP="+w.tmp, "TMP="+w.tmp, "USERPROFILE="+w.home)
	}
	return append(env, extra...)
}
