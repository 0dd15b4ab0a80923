// Package treepath resolves a path, symbolic links included, inside a tree
// that is not the local file system, such as the tree of a git commit. It
// is the one resolver of links the plugin has: pkg/source follows links
// with it when reading a commit's tree, and pkg/generate when copying that
// tree into a workspace for generators.
//
// A path resolves as Linux resolves it in a checkout of the tree, element
// by element, each link's target taken against the directory the link is
// in, with these rules on top: nothing may lead above the tree's root, not
// even to come back (the root has no name in the tree); a link's target
// must be relative, at most MaxTarget bytes, without a NUL or a backslash;
// and at most MaxLinks links are followed.
package treepath

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
)

const (
	// MaxLinks is the number of symbolic links followed to resolve one
	// path, as in Linux's path resolution.
	MaxLinks = 40
	// MaxTarget bounds a link's target, as PATH_MAX does in Linux.
	MaxTarget = 4096
)

// The reasons a path does not resolve. Resolve's errors match one of them
// or fs.ErrNotExist (errors.Is), and each of them matches fs.ErrNotExist
// too: a path that does not resolve names nothing in the tree.
var (
	ErrOutside       error = notFound("a symbolic link leading outside the repository")
	ErrAbsolute      error = notFound("a symbolic link to an absolute path")
	ErrLoop          error = notFound("a loop of symbolic links")
	ErrInvalidTarget error = notFound("a symbolic link with an invalid target")
	// ErrNotDir is a file met where a directory was needed.
	ErrNotDir error = notFound("not a directory")
	// ErrMissingDir is a missing directory followed by "..", with
	// Options.AllowMissing: what it would climb to is not known.
	ErrMissingDir error = notFound("a symbolic link through a missing directory")
)

type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == fs.ErrNotExist }

// Kind is what an entry of a tree is.
type Kind int

const (
	// Missing is no entry at all.
	Missing Kind = iota
	// Dir is a directory.
	Dir
	// File is anything that is neither a directory nor a link.
	File
	// Link is a symbolic link.
	Link
)

// Entry is an entry of a tree. E is how the tree refers to it.
type Entry[E any] struct {
	Ref  E
	Kind Kind
	// Size is, for a link, the length of its target: Resolve refuses a
	// link longer than MaxTarget before reading it.
	Size int64
}

// Tree is what Resolve walks.
type Tree[E any] interface {
	// Child returns the entry called name in the directory dir, of Kind
	// Missing when there is none.
	Child(dir E, name string) (Entry[E], error)
	// Target returns the target of the link l.
	Target(l E) (string, error)
}

// Options say how the last element and missing entries are taken.
type Options struct {
	// FollowLast follows a link in the last element too (stat, open),
	// rather than resolving to the link itself (lstat, readlink).
	FollowLast bool
	// AllowMissing resolves a path whose entries are missing from some
	// element on, such as a link to a file a program will write, as long
	// as nothing after the missing element climbs with "..". Without it a
	// missing entry is an error matching fs.ErrNotExist.
	AllowMissing bool
}

// Result is what a path resolved to.
type Result[E any] struct {
	// Path is the slash path from the root that the path leads to, made
	// of directories and a last element that are no links (unless
	// Options.FollowLast is off and the last element is one); "." for
	// the root.
	Path string
	// Entry is the entry at Path; of Kind Missing when it is not in the
	// tree (only with Options.AllowMissing).
	Entry Entry[E]
}

// Resolve resolves name, a slash path such as fs.ValidPath accepts, from
// root, the tree's root directory.
func Resolve[E any](t Tree[E], root E, name string, opts Options) (Result[E], error) {
	if !fs.ValidPath(name) {
		return Result[E]{}, fs.ErrInvalid
	}
	// stack holds the entries walked, root first, and names their names;
	// todo the elements still to walk, to which link targets are
	// prepended.
	stack := []Entry[E]{{Ref: root, Kind: Dir}}
	var names []string
	todo := strings.Split(name, "/")
	hops := 0
	missing := false // an element was missing: what follows must not climb
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		if top := stack[len(stack)-1]; top.Kind == File || top.Kind == Link {
			// Linux refuses "file/", "file/." and "file/.." alike.
			return Result[E]{}, fmt.Errorf("%s is %w", path.Join(names...), ErrNotDir)
		}
		switch elem {
		case "", ".":
			continue
		case "..":
			switch {
			case missing:
				return Result[E]{}, ErrMissingDir
			case len(names) == 0:
				return Result[E]{}, ErrOutside
			}
			stack, names = stack[:len(stack)-1], names[:len(names)-1]
			continue
		}
		if missing {
			stack, names = append(stack, Entry[E]{}), append(names, elem)
			continue
		}
		e, err := t.Child(stack[len(stack)-1].Ref, elem)
		if err != nil {
			return Result[E]{}, err
		}
		switch {
		case e.Kind == Missing && !opts.AllowMissing:
			return Result[E]{}, fs.ErrNotExist
		case e.Kind == Missing:
			missing = true
		case e.Kind == Link && (len(todo) > 0 || opts.FollowLast):
			target, err := readTarget(t, e, &hops)
			if err != nil {
				return Result[E]{}, err
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		stack, names = append(stack, e), append(names, elem)
	}
	res := Result[E]{Path: path.Join(names...), Entry: stack[len(stack)-1]}
	if res.Path == "" {
		res.Path = "."
	}
	return res, nil
}

// readTarget reads the target of link l, the hops-th link followed, when
// it is one Resolve may follow.
func readTarget[E any](t Tree[E], l Entry[E], hops *int) (string, error) {
	if *hops++; *hops > MaxLinks {
		return "", ErrLoop
	}
	if l.Size > MaxTarget {
		return "", ErrInvalidTarget
	}
	target, err := t.Target(l.Ref)
	if err != nil {
		return "", err
	}
	switch {
	case target == "" || len(target) > MaxTarget || strings.ContainsAny(target, "\\\x00"):
		return "", ErrInvalidTarget
	case path.IsAbs(target) || filepath.IsAbs(target) || filepath.VolumeName(target) != "":
		return "", ErrAbsolute
	}
	return target, nil
}

// FS is the Tree of an fs.FS that can read links (fs.ReadLinkFS, or one
// that fs.Lstat and fs.ReadLink otherwise understand), entries named by
// their slash paths. Each step is an Lstat of the path so far.
type FS struct{ FS fs.FS }

// Child implements Tree.
func (f FS) Child(dir, name string) (Entry[string], error) {
	p := path.Join(dir, name)
	info, err := fs.Lstat(f.FS, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Entry[string]{Ref: p, Kind: Missing}, nil
	case err != nil:
		return Entry[string]{}, err
	case info.Mode()&fs.ModeSymlink != 0:
		return Entry[string]{Ref: p, Kind: Link, Size: info.Size()}, nil
	case info.IsDir():
		return Entry[string]{Ref: p, Kind: Dir}, nil
	}
	return Entry[string]{Ref: p, Kind: File}, nil
}

// Target implements Tree.
func (f FS) Target(l string) (string, error) { return fs.ReadLink(f.FS, l) }
