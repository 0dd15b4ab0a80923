// Package render turns the manifests under a path of a git commit's tree into
// Kubernetes objects, each with the file and line it came from.
//
// Plain files are decoded the way `kubectl apply -f` decodes them, and
// directories with a kustomization are built the way `kubectl kustomize`
// builds them, so a repository renders here as it would with kubectl.
package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// Origin says where an object came from: a file relative to the repository
// root, and the 1-based line of the start of its document. Line is 0 when the
// object has no single line, as for the output of a kustomization.
type Origin struct {
	File string
	Line int
	// Generator, when set, names the generator whose output held the
	// object; File is then the config that declares it, and Line the line
	// in the generator's output.
	Generator string
	// Resource, for an object built by kustomize (File is then the
	// kustomization file), is the file of the commit kustomize loaded it
	// from when Options.Resources asked; "" for an object kustomize
	// generated, and when not asked. String does not show it.
	Resource string
	// Chart, for an object a HelmRelease's chart rendered (File and Line
	// are then the HelmRelease's), names the chart, its version and the
	// template: "app 1.2.0: app/templates/deploy.yaml".
	Chart string
}

// String returns "file:line", or "file" when the line is unknown; for a
// generator's output, `generator "name" (file), output line N`; for a
// chart's output, "file:line (chart app 1.2.0: app/templates/x.yaml)".
func (o Origin) String() string {
	if o.Chart != "" {
		c := o
		c.Chart = ""
		return c.String() + " (chart " + o.Chart + ")"
	}
	if o.Generator != "" {
		s := "generator " + strconv.Quote(o.Generator) + " (" + o.File + ")"
		if o.Line > 0 {
			s += ", output line " + strconv.Itoa(o.Line)
		}
		return s
	}
	if o.Line <= 0 {
		return o.File
	}
	return o.File + ":" + strconv.Itoa(o.Line)
}

// Object is one rendered Kubernetes object and where it came from.
type Object struct {
	Object *unstructured.Unstructured
	Origin Origin
}

// Error is a problem with one file or document.
type Error struct {
	Origin Origin
	Err    error
}

func (e *Error) Error() string { return e.Origin.String() + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Render reads the manifests under dir (a slash path inside fsys, "." for the
// root) of a read-only file tree, such as the tree of a git commit.
//
// Files ending in .yaml, .yml or .json are read in the order of fs.WalkDir
// (lexical within each directory), as `kubectl apply -R -f` reads them; other
// files, files and directories whose name starts with ".", and symbolic links
// are skipped (a symbolic link named like a manifest is an error), and so
// are directories below dir holding a Chart.yaml (Helm charts, whose
// templates are not manifests). YAML files
// may hold several documents; objects of a kind ending in "List" are replaced
// by their items. A directory holding a kustomization file is built like
// `kubectl kustomize` builds it (no plugins, no helm, loads restricted to its
// root) instead of being read file by file; it may load only files of fsys,
// so a remote base or file, or an absolute path, is an error naming the
// kustomization file, and kustomize reads only the files it loads. Every
// file is checked with yamlguard.Check before it is decoded.
//
// Objects come back in file and document order. Duplicates and namespaces are
// not checked here. Every object must have apiVersion, kind and metadata.name.
//
// Render reports every problem it finds, each as an *Error, joined with
// errors.Join, and then returns no objects. It stops early only when ctx is
// done, and then returns ctx.Err().
//
// When a generator config (.gitops.yaml) applies to dir, Render does not
// run its programs: it returns an error naming them (see RenderWith).
func Render(ctx context.Context, fsys fs.FS, dir string) ([]Object, error) {
	return RenderWith(ctx, fsys, dir, Options{})
}

// checkDir checks that dir is a directory of fsys.
func checkDir(fsys fs.FS, dir string) error {
	if !fs.ValidPath(dir) {
		return fmt.Errorf("render: invalid path %q: want a slash-separated path inside the tree, like \"apps/web\" or \".\"", dir)
	}
	info, err := fs.Stat(fsys, dir)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("render: %s is not a directory", dir)
	}
	return nil
}

// renderFiles renders the manifest files under dir, as Render describes.
func renderFiles(ctx context.Context, fsys fs.FS, dir string, resources bool) ([]Object, error) {
	r := &renderer{ctx: ctx, fsys: fsys, resources: resources}
	if err := r.walk(dir); err != nil {
		return nil, err
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return r.objs, nil
}

// renderer holds the state of one Render call.
type renderer struct {
	ctx       context.Context
	fsys      fs.FS
	resources bool // see Options.Resources
	objs      []Object
	errs      []error
}

// fail records a problem with a whole file or directory.
func (r *renderer) fail(file string, err error) {
	r.errs = append(r.errs, &Error{Origin: Origin{File: file}, Err: err})
}

// walk renders the directory dir. It returns an error only when the context
// is done; problems with the tree are collected in r.errs.
func (r *renderer) walk(dir string) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	entries, err := fs.ReadDir(r.fsys, dir)
	if err != nil {
		r.fail(dir, err)
		return nil
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })

	if k := kustomizationFile(entries); k != "" {
		r.kustomize(dir, k)
		return r.ctx.Err()
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := path.Join(dir, name)
		if e.IsDir() {
			if isChartDir(r.fsys, p) {
				continue // a Helm chart, rendered only through a HelmRelease
			}
			if err := r.walk(p); err != nil {
				return err
			}
			continue
		}
		switch path.Ext(name) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			// A git tree may hold symbolic links; following them could
			// leave the tree, so say so rather than skip a manifest silently.
			r.fail(p, errors.New("not a regular file (symbolic links are not followed)"))
			continue
		}
		if info, err := e.Info(); err == nil && info.Size() > yamlguard.MaxFileSize {
			// Refused before it is read into memory.
			r.fail(p, fmt.Errorf("the file has %d MiB, more than the %d MiB allowed", info.Size()>>20, yamlguard.MaxFileSize>>20))
			continue
		}
		data, err := fs.ReadFile(r.fsys, p)
		if err != nil {
			r.fail(p, err)
			continue
		}
		objs, errs := decodeFile(p, data, true)
		r.objs = append(r.objs, objs...)
		r.errs = append(r.errs, errs...)
	}
	return nil
}

// kustomizationFile returns the name of the kustomization file among
// entries, or "" if there is none.
func kustomizationFile(entries []fs.DirEntry) string {
	for _, k := range konfig.RecognizedKustomizationFileNames() {
		for _, e := range entries {
			if e.Name() == k && !e.IsDir() {
				return k
			}
		}
	}
	return ""
}
