package render

import (
	"fmt"
	"io/fs"
	"path"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomize builds the kustomization in dir, whose kustomization file is
// named file, and decodes its output. The objects' origin is the
// kustomization file, without a line.
func (r *renderer) kustomize(dir, file string) {
	origin := path.Join(dir, file)
	if r.mem == nil && r.memErr == nil {
		r.mem, r.memErr = copyToMemory(r.fsys)
	}
	if r.memErr != nil {
		r.fail(origin, fmt.Errorf("kustomize: copying the tree: %w", r.memErr))
		return
	}
	m, err := krusty.MakeKustomizer(kustomizeOptions()).Run(r.mem, path.Join("/", dir))
	if err != nil {
		r.fail(origin, fmt.Errorf("kustomize: %w", err))
		return
	}
	out, err := m.AsYaml()
	if err != nil {
		r.fail(origin, fmt.Errorf("kustomize: %w", err))
		return
	}
	// kubectl's -k decodes the YAML output the same way as -f decodes files.
	objs, errs := decodeFile(origin, out, false)
	r.objs = append(r.objs, objs...)
	r.errs = append(r.errs, errs...)
}

// kustomizeOptions are those of `kubectl kustomize` without flags: output
// in legacy kind order unless the kustomization sets sortOptions, loads
// restricted to the kustomization's root (bases may still be referenced), no
// plugins, no helm, and no managed-by label.
func kustomizeOptions() *krusty.Options {
	o := krusty.MakeDefaultOptions()
	o.Reorder = krusty.ReorderOptionUnspecified
	o.LoadRestrictions = types.LoadRestrictionsRootOnly
	o.PluginConfig = types.DisabledPluginConfig()
	o.AddManagedbyLabel = false
	return o
}

// copyToMemory copies every regular file of fsys, whatever its name, into an
// in-memory file system rooted at "/", since a kustomization may read any
// file of the tree: bases in ../base, generator inputs, .env files.
func copyToMemory(fsys fs.FS) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case p == ".":
			return nil
		case e.IsDir():
			return mem.MkdirAll("/" + p)
		case e.Type().IsRegular():
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			return mem.WriteFile("/"+p, data)
		}
		return nil
	})
	return mem, err
}
