package render

import (
	"fmt"
	"path"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomize builds the kustomization in dir, whose kustomization file is
// named file, and decodes its output. The objects' origin is the
// kustomization file, without a line, and, when r.resources, the
// Resource each was loaded from (see trackOrigins).
//
// kustomize reads the commit through commitFS: only the files it asks
// for, each checked with yamlguard.Check. Before it runs, the
// kustomizations it would load are checked for remote and absolute paths
// (see checkKustomizations), since kustomize would fetch those itself,
// outside any file system.
func (r *renderer) kustomize(dir, file string) {
	origin := path.Join(dir, file)
	fsys := commitFS{fsys: r.fsys}
	if errs := checkKustomizations(fsys, dir); len(errs) > 0 {
		r.errs = append(r.errs, errs...)
		return
	}
	var tracked filesys.FileSystem = fsys
	asked := true // nothing to remove unless origins are tracked here
	if r.resources {
		tracked, asked = trackOrigins(fsys, origin)
	}
	m, err := krusty.MakeKustomizer(kustomizeOptions()).Run(tracked, path.Join("/", dir))
	if err != nil {
		r.fail(origin, fmt.Errorf("kustomize: %w", err))
		return
	}
	var files map[objectKey]string
	if r.resources {
		files = resourceFiles(m, dir)
	}
	if !asked {
		if err := m.RemoveOriginAnnotations(); err != nil {
			r.fail(origin, fmt.Errorf("kustomize: %w", err))
			return
		}
	}
	out, err := m.AsYaml()
	if err != nil {
		r.fail(origin, fmt.Errorf("kustomize: %w", err))
		return
	}
	// kubectl's -k decodes the YAML output the same way as -f decodes files.
	objs, errs := decodeFile(origin, out, false)
	for i := range objs {
		o := objs[i].Object
		objs[i].Origin.Resource = files[objectKey{o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName()}]
	}
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
