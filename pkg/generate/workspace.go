package generate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/treepath"
)

// Workspace is a writable copy of a commit's tree on disk, where the
// programs of a config run. The copy is of the whole tree, since a
// generator may read any file of the repository (a base in ../base, a
// shared values file), and programs may write into it; nothing is written
// back. Close removes it.
//
// Nothing in the copy leads outside it: a symbolic link is made only when
// it resolves inside the tree, followed link by link as the kernel would
// (see pkg/treepath), and then as a link straight to what it resolves to.
// Files larger than MaxFileSize are left out, and a tree of more than
// MaxTreeSize is refused; a program that fails is told what was left out.
//
// Its directory holds the copy (Root), and the HOME and TMPDIR the
// programs are given, all removed by Close.
type Workspace struct {
	opts    Options
	dir     string
	root    string
	home    string
	tmp     string
	path    string
	limits  limits
	omitted []omitted // what the copy left out, in tree order
}

const (
	// MaxFileSize bounds a file copied into a workspace: a larger one
	// (a video, a disk image in an unrelated folder) is left out, so that
	// it costs neither its size on disk nor in memory on every run.
	MaxFileSize = 64 << 20
	// MaxTreeSize bounds the files copied into a workspace in all; a tree
	// with more is refused. It stops a small, well-compressed repository
	// from filling the disk.
	MaxTreeSize = 1 << 30
)

// limits are the sizes a workspace copies; tests make them small.
type limits struct {
	file, tree int64
}

// omitted is an entry of the tree that the copy left out, and why.
type omitted struct {
	path, why string
}

// NewWorkspace copies fsys, such as a commit's tree, into a new temporary
// directory: directories, regular files up to MaxFileSize (executable ones
// stay executable), and symbolic links that resolve inside the tree.
// Links that lead outside it, are absolute or loop are left out, as are
// larger files; a tree of more than MaxTreeSize is an error.
func NewWorkspace(fsys fs.FS, opts Options) (*Workspace, error) {
	return newWorkspace(fsys, opts, limits{file: MaxFileSize, tree: MaxTreeSize})
}

func newWorkspace(fsys fs.FS, opts Options, lim limits) (*Workspace, error) {
	dir, err := os.MkdirTemp(opts.TempDir, "kubectl-gitops-generate-")
	if err != nil {
		return nil, fmt.Errorf("making a workspace for generators: %w", err)
	}
	w := &Workspace{
		opts:   opts,
		dir:    dir,
		root:   filepath.Join(dir, "tree"),
		home:   filepath.Join(dir, "home"),
		tmp:    filepath.Join(dir, "tmp"),
		path:   opts.Path,
		limits: lim,
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
	if err := w.copyTree(fsys); err != nil {
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
	left := map[string]bool{}
	for _, o := range w.omitted {
		left[o.path] = true
	}
	out := map[string][]byte{}
	err := fs.WalkDir(base, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || left[p] {
			return nil
		}
		name := filepath.Join(w.root, filepath.FromSlash(p))
		info, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s was removed; only edits of existing files can be committed", p)
		}
		if err != nil {
			return err
		}
		if info.Size() > w.limits.file {
			return fmt.Errorf("%s grew to %d bytes, more than the %s limit for a file", p, info.Size(), size(w.limits.file))
		}
		cur, err := os.ReadFile(name)
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

// copyTree copies fsys into w.root, which must not exist.
func (w *Workspace) copyTree(fsys fs.FS) error {
	var total int64
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(w.root, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			// A link to a file a program may write resolves, as long as
			// nothing after the missing part climbs.
			res, err := treepath.Resolve(treepath.FS{FS: fsys}, ".", p, treepath.Options{FollowLast: true, AllowMissing: true})
			if err != nil {
				w.omitted = append(w.omitted, omitted{p, err.Error()})
				return nil
			}
			// Straight to what it resolves to, through real directories
			// only: on disk it goes where it went in the tree, whatever
			// other links were left out.
			rel, err := filepath.Rel(filepath.FromSlash(path.Dir(p)), filepath.FromSlash(res.Path))
			if err != nil {
				return err
			}
			return os.Symlink(rel, target)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Size() > w.limits.file {
				w.omitted = append(w.omitted, omitted{p, "larger than the " + size(w.limits.file) + " limit for a file"})
				return nil
			}
			perm := fs.FileMode(0o644)
			if info.Mode()&0o111 != 0 {
				perm = 0o755
			}
			n, err := copyFile(fsys, p, target, perm, w.limits.file)
			if errors.Is(err, errTooLarge) {
				w.omitted = append(w.omitted, omitted{p, "larger than the " + size(w.limits.file) + " limit for a file"})
				return nil
			}
			if err != nil {
				return err
			}
			if total += n; total > w.limits.tree {
				return fmt.Errorf("the files of the repository come to more than %s, the limit for a workspace, at %s: generators cannot run on a tree this large; keep large files in another repository", size(w.limits.tree), p)
			}
		}
		return nil
	})
}

var errTooLarge = errors.New("file too large")

// copyFile copies the file p of fsys to target, at most max bytes of it:
// a longer file is errTooLarge and not left on disk. It returns the
// number of bytes copied.
func copyFile(fsys fs.FS, p, target string, perm fs.FileMode, max int64) (int64, error) {
	in, err := fsys.Open(p)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(in, max+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		err = errTooLarge
	}
	if err != nil {
		_ = os.Remove(target)
		return 0, err
	}
	return n, nil
}

// size says n bytes in GiB, MiB or KiB when it is a whole number of them.
func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// maxNoted is the number of entries left out of the copy that an error
// names.
const maxNoted = 5

// note ends the error of a program that failed: what the copy left out,
// since the program may have failed for want of it.
func (w *Workspace) note() string {
	if len(w.omitted) == 0 {
		return ""
	}
	var names []string
	for _, o := range w.omitted[:min(len(w.omitted), maxNoted)] {
		names = append(names, fmt.Sprintf("%s (%s)", o.path, o.why))
	}
	more := ""
	if n := len(w.omitted) - maxNoted; n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return "\n  the workspace it ran in left out " + strings.Join(names, ", ") + more
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
