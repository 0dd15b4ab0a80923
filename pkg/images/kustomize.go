package images

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// A workload kustomize built is found again in the file kustomize loaded
// it from (render.Origin.Resource) by following the kustomizations from
// the one built down to that file: their namespace, namePrefix and
// nameSuffix give the id the file writes, and their images entries,
// applied in kustomize's order to the image the file writes, say which
// entry, if any, sets the tag that is applied. When that replay does not
// give the image that is applied (a patch set it, say), the image cannot
// be edited, and says so. Every edit is verified by rendering the edited
// tree again, so a replay that is wrong commits nothing.

// kustomization is what images reads of a kustomization file.
type kustomization struct {
	file                      string // slash path of the file
	dir                       string
	namespace, prefix, suffix string
	resources, components     []string // slash paths of the commit
	images                    []kustImage
}

// kustImage is an entry of a kustomization's images.
type kustImage struct {
	index                                    int
	name, newName, newTag, digest, tagSuffix string
}

// maxDepth bounds the nesting of kustomizations followed (kustomize
// refuses cycles; this only keeps a broken tree from looping).
const maxDepth = 32

// kustomization reads the kustomization in dir, nil when there is none or
// it cannot be read (kustomize built it, so that does not happen).
func (r *reader) kustomization(dir string) *kustomization {
	if k, ok := r.kusts[dir]; ok {
		return k
	}
	r.kusts[dir] = nil
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		file := path.Join(dir, name)
		data, err := fs.ReadFile(r.tree.FS, file)
		if err != nil {
			continue
		}
		docs, err := setters.Parse(data)
		if err != nil || len(docs) == 0 {
			return nil
		}
		k := readKustomization(docs[0], file)
		r.kusts[dir] = k
		return k
	}
	return nil
}

func readKustomization(doc *yaml.RNode, file string) *kustomization {
	k := &kustomization{file: file, dir: path.Dir(file)}
	str := func(n *yaml.RNode, field string) string {
		if f := n.Field(field); f != nil && f.Value.YNode().Kind == yaml.ScalarNode {
			return f.Value.YNode().Value
		}
		return ""
	}
	list := func(field string) []string {
		var out []string
		f := doc.Field(field)
		if f == nil || f.Value.YNode().Kind != yaml.SequenceNode {
			return nil
		}
		for _, item := range f.Value.YNode().Content {
			if item.Kind == yaml.ScalarNode {
				out = append(out, path.Join(k.dir, item.Value))
			}
		}
		return out
	}
	k.namespace, k.prefix, k.suffix = str(doc, "namespace"), str(doc, "namePrefix"), str(doc, "nameSuffix")
	k.resources = append(list("resources"), list("bases")...)
	k.components = list("components")
	if f := doc.Field("images"); f != nil && f.Value.YNode().Kind == yaml.SequenceNode {
		for i, item := range f.Value.YNode().Content {
			if item.Kind != yaml.MappingNode {
				continue
			}
			n := yaml.NewRNode(item)
			k.images = append(k.images, kustImage{index: i, name: str(n, "name"), newName: str(n, "newName"),
				newTag: str(n, "newTag"), digest: str(n, "digest"), tagSuffix: str(n, "tagSuffix")})
		}
	}
	return k
}

// chains returns each way the objects of the file res reach the
// kustomization in dir: the kustomizations whose transformers apply to
// them, in the order kustomize applies them (the one that loads res
// first, dir's last). A component's transformers apply to what its parent
// has accumulated when it is added: the parent's resources, and the
// components before.
func (r *reader) chains(dir, res string, depth int) [][]*kustomization {
	k := r.kustomization(dir)
	if k == nil || depth > maxDepth {
		return nil
	}
	var out [][]*kustomization
	for _, p := range k.resources {
		if p == res {
			out = append(out, nil)
			continue
		}
		out = append(out, r.chains(p, res, depth+1)...)
	}
	var comps []*kustomization
	for _, c := range k.components {
		comps = append(comps, r.componentChain(c, depth+1)...)
	}
	for i := range out {
		out[i] = slices.Concat(out[i], comps)
	}
	for j, c := range k.components {
		var later []*kustomization
		for _, l := range k.components[j+1:] {
			later = append(later, r.componentChain(l, depth+1)...)
		}
		for _, sub := range r.chains(c, res, depth+1) {
			out = append(out, slices.Concat(sub, later))
		}
	}
	for i := range out {
		out[i] = slices.Concat(out[i], []*kustomization{k})
	}
	return out
}

// componentChain returns the kustomizations whose transformers a
// component adds to its parent's: its own components', then its own.
func (r *reader) componentChain(dir string, depth int) []*kustomization {
	k := r.kustomization(dir)
	if k == nil || depth > maxDepth {
		return nil
	}
	var out []*kustomization
	for _, c := range k.components {
		out = append(out, r.componentChain(c, depth+1)...)
	}
	return append(out, k)
}

// built is a workload kustomize built from the kustomization origin.File.
func (r *reader) built(w workload.Workload, origin render.Origin) Found {
	f := Found{Workload: w, Origin: origin.String(), Kustomization: origin.File}
	// Until the file it came from is known, File is the kustomization, so
	// that a policy edit reads a file and is refused with the note.
	f.File = origin.File
	res := origin.Resource
	if res == "" {
		return f.cannot("cannot be edited: kustomize does not say which file of the commit it was built from")
	}
	f.File = res
	f.Origin = res + " via " + origin.File
	p := r.parse(res)
	if p.err != nil {
		return f.cannot(fmt.Sprintf("cannot be edited: %v", p.err))
	}
	type match struct {
		fw    workload.Workload
		chain []*kustomization
	}
	var matches []match
	for _, chain := range r.chains(path.Dir(origin.File), res, 0) {
		for _, fw := range p.ws {
			if renamed(fw.ID, chain) == w.ID {
				matches = append(matches, match{fw, chain})
			}
		}
	}
	if len(matches) == 0 {
		return f.cannot(fmt.Sprintf("cannot be edited: %s holds no workload that %s turns into %s (renamed by a patch or a transformer?)", res, origin.File, w.ID))
	}
	m := matches[0]
	for _, other := range matches[1:] {
		if other.fw.Doc != m.fw.Doc || !slices.Equal(other.fw.Path, m.fw.Path) {
			// Two objects of the file become this one: kustomize would
			// refuse the clash, so this does not happen; say so if it does.
			return f.cannot(fmt.Sprintf("cannot be edited: more than one object of %s becomes %s", res, w.ID))
		}
	}
	f.Doc, f.Path, f.Line, f.FileID = m.fw.Doc, m.fw.Path, m.fw.Line, m.fw.ID
	if m.fw.ID == w.ID {
		f.FileID = workload.ID{}
	}
	f.Origin = m.fw.Origin() + " via " + origin.File
	if !m.fw.Policy().Equal(w.Policy()) {
		f.PolicyNote = fmt.Sprintf("its policy cannot be edited in %s, where it comes from: the kustomizations that build it (%s) change its policy annotations; edit them there", res, origin.File)
	}
	f.targets = make([]target, len(w.Containers))
	for i, c := range w.Containers {
		fc, ok := fileContainer(m.fw, c)
		if !ok {
			f.targets[i].note = fmt.Sprintf("cannot be edited: %s writes no container %s (added by a patch?)", res, c.Name)
			continue
		}
		f.Containers[i].Target = fc.Target
		var notes []string
		t, ok := replayImages(fc.Image, c.Image, m.chain)
		for _, other := range matches[1:] {
			if ot, ook := replayImages(fc.Image, c.Image, other.chain); ook != ok || ot.file != t.file || !slices.Equal(ot.entry, t.entry) {
				notes = append(notes, fmt.Sprintf("cannot be edited: %s reaches %s in more than one way, which set its image differently", res, origin.File))
				break
			}
		}
		switch {
		case len(notes) > 0:
			f.targets[i].note = notes[0]
		case !ok:
			f.targets[i].note = fmt.Sprintf("cannot be edited: %s writes image %s, and the images entries of the kustomizations do not make it %s (set by a patch or a transformer?)", res, fc.Image, c.Image)
		case t.file == "":
			f.targets[i] = target{file: res, repo: repoOf(fc.Image)}
		default:
			f.targets[i] = t
		}
	}
	return f
}

// renamed returns the id kustomize gives the object written id after the
// kustomizations of chain, innermost first: each adds its prefix and
// suffix to the name, and its namespace, when set, replaces the one
// before. The namespace of id is the one its file writes, or the default
// namespace when it writes none, as for the object that is applied.
func renamed(id workload.ID, chain []*kustomization) workload.ID {
	for _, k := range chain {
		id.Name = k.prefix + id.Name + k.suffix
		if k.namespace != "" {
			id.Namespace = k.namespace
		}
	}
	return id
}

// replayImages applies the images entries of chain to image, the image a
// resource file writes, as kustomize does, and says whether that gives
// applied. The target is the entry that last set the tag or digest, or a
// zero target when the file's own tag stands.
func replayImages(image, applied string, chain []*kustomization) (target, bool) {
	var t target
	for _, k := range chain {
		for _, e := range k.images {
			if !imageMatches(image, e.name) {
				continue
			}
			name, tag, digest := splitImage(image)
			if e.newName != "" {
				name = e.newName
			}
			switch {
			case e.newTag != "" && e.digest != "":
				tag, digest = e.newTag, e.digest
			case e.newTag != "":
				tag, digest = e.newTag, ""
			case e.digest != "":
				tag, digest = "", e.digest
			case e.tagSuffix != "":
				// The tag is the file's with a suffix: no single place
				// to write a new tag.
				return target{}, false
			}
			if e.newTag != "" || e.digest != "" {
				t = target{file: k.file, entry: []string{"images", strconv.Itoa(e.index)}}
			}
			image = name
			if tag != "" {
				image += ":" + tag
			}
			if digest != "" {
				image += "@" + digest
			}
		}
	}
	return t, image == applied
}

// imageMatches is kustomize's test of an image against the name of an
// images entry (sigs.k8s.io/kustomize/api/internal/image.IsImageMatched,
// which is internal): the name is a regular expression, as there.
func imageMatches(image, name string) bool {
	re, err := regexp.Compile("^" + name + "(:[a-zA-Z0-9_.{}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{}-]*)?$")
	return err == nil && re.MatchString(image)
}

// splitImage is kustomize's split of an image into name, tag and digest
// (sigs.k8s.io/kustomize/api/internal/image.Split, which is internal).
func splitImage(image string) (name, tag, digest string) {
	search, slash := image, 0
	if i := strings.Index(image, "/"); i > 0 {
		search, slash = image[i:], i
	}
	id, ic := strings.Index(search, "@"), strings.Index(search, ":")
	switch {
	case ic < 0 && id < 0:
		return image, "", ""
	case id >= 0 && (id < ic || ic < 0):
		return image[:id+slash], "", image[id+slash+1:]
	case id >= 0 && ic >= 0:
		return image[:ic+slash], image[ic+slash+1 : id+slash], image[id+slash+1:]
	}
	return image[:ic+slash], image[ic+slash+1:], ""
}
