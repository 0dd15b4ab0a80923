package render

import (
	"bytes"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Where a kustomize-built object came from: kustomize tells it when the
// kustomization asks for `buildMetadata: [originAnnotations]`, by writing
// the annotation config.kubernetes.io/origin on each object. The build
// reads the top kustomization through originFS, which adds that option,
// and the annotation is removed again before the output is decoded unless
// the kustomization asked for it itself, so the objects applied are the
// ones kustomize builds without it.

// originFS is commitFS with the kustomization file kust read with
// buildMetadata: [originAnnotations] added.
type originFS struct {
	commitFS
	kust string // slash path of the kustomization file, as commitFS.name gives it
	data []byte
}

var _ filesys.FileSystem = originFS{}

// trackOrigins returns the file system kustomize reads to build the
// kustomization file kust (a slash path of the commit), and whether the
// kustomization asked for origin annotations itself. When kust cannot be
// read or parsed, or already asks for them, the file system is fsys:
// kustomize then names the problem itself, or keeps the annotations.
func trackOrigins(fsys commitFS, kust string) (filesys.FileSystem, bool) {
	data, err := fsys.ReadFile(kust)
	if err != nil {
		return fsys, false
	}
	out, asked := withOriginAnnotations(data)
	if asked || out == nil {
		return fsys, asked
	}
	return originFS{commitFS: fsys, kust: fsys.name(kust), data: out}, false
}

// withOriginAnnotations returns the kustomization data with
// originAnnotations added to its buildMetadata, or nil when data cannot be
// read as one mapping; asked says that it has them already. A block
// mapping without buildMetadata gets one line added at its end, so that
// every other byte, and every line number kustomize may report, stays.
func withOriginAnnotations(data []byte) (out []byte, asked bool) {
	root, err := yaml.Parse(string(data))
	if err != nil || root.YNode().Kind != yaml.MappingNode {
		return nil, false
	}
	bm := root.Field(buildMetadataField)
	if bm == nil {
		if n := root.YNode(); n.Style&yaml.FlowStyle == 0 && len(n.Content) > 0 && n.Content[0].Column >= 1 {
			out = slices.Clone(data)
			if len(out) > 0 && out[len(out)-1] != '\n' {
				out = append(out, '\n')
			}
			out = append(out, strings.Repeat(" ", n.Content[0].Column-1)+buildMetadataField+": ["+types.OriginAnnotations+"]\n"...)
			if hasOrigins(out) {
				return out, false
			}
		}
		if err := root.PipeE(yaml.SetField(buildMetadataField, yaml.NewListRNode(types.OriginAnnotations))); err != nil {
			return nil, false
		}
	} else {
		seq := bm.Value.YNode()
		if seq.Kind != yaml.SequenceNode {
			return nil, false
		}
		for _, item := range seq.Content {
			if item.Value == types.OriginAnnotations {
				return nil, true
			}
		}
		seq.Content = append(seq.Content, yaml.NewStringRNode(types.OriginAnnotations).YNode())
	}
	s, err := root.String()
	if err != nil || !hasOrigins([]byte(s)) {
		return nil, false
	}
	return []byte(s), false
}

// hasOrigins says whether the kustomization data reads as one mapping
// whose buildMetadata holds originAnnotations.
func hasOrigins(data []byte) bool {
	var k struct {
		BuildMetadata []string `yaml:"buildMetadata"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return false
	}
	return slices.Contains(k.BuildMetadata, types.OriginAnnotations)
}

func (o originFS) ReadFile(p string) ([]byte, error) {
	if o.name(p) == o.kust {
		if _, err := o.commitFS.ReadFile(p); err != nil {
			return nil, err
		}
		return slices.Clone(o.data), nil
	}
	return o.commitFS.ReadFile(p)
}

func (o originFS) Open(p string) (filesys.File, error) {
	if o.name(p) != o.kust {
		return o.commitFS.Open(p)
	}
	data, err := o.ReadFile(p)
	if err != nil {
		return nil, err
	}
	info, err := o.lstat("open", p)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(data), info: info}, nil
}

// resourceFiles maps each object of m that kustomize loaded from a file of
// the commit (not generated, not remote) to that file, a slash path of the
// commit: the origin annotations' paths are relative to dir, the
// kustomization's directory.
func resourceFiles(m resmap.ResMap, dir string) map[objectKey]string {
	files := map[objectKey]string{}
	for _, r := range m.Resources() {
		o, err := r.GetOrigin()
		if err != nil || o == nil || o.Repo != "" || o.ConfiguredIn != "" || o.Path == "" {
			continue
		}
		p := path.Join(dir, filepath.ToSlash(o.Path))
		if filepath.IsAbs(o.Path) || p == ".." || strings.HasPrefix(p, "../") {
			continue
		}
		files[objectKey{r.GetApiVersion(), r.GetKind(), r.GetNamespace(), r.GetName()}] = p
	}
	return files
}

// buildMetadataField is the kustomization field of the build options.
const buildMetadataField = "buildMetadata"

// objectKey identifies an object of a kustomize build.
type objectKey struct{ apiVersion, kind, namespace, name string }
