package images

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageauto"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// Tree is the part of a commit that images reads: the manifests under Dir
// of FS, and how to run the generators a .gitops.yaml declares for them.
type Tree struct {
	FS        fs.FS
	Dir       string
	Namespace string // the default namespace
	Generate  generate.Options
	// Render holds the other options of the render that sync makes of
	// the tree (Generate above stands for its Generate), so that the
	// workloads are read from the same objects.
	Render render.Options
}

// Found is a workload of a tree, and how its images are moved.
//
// Its ID, annotations and containers are those of the object sync applies.
// Workload.File, Doc and Path say where its policy annotations are edited:
// the file the object was read from, or, for an object kustomize built,
// the file kustomize loaded it from (Workload.FileID then names it as that
// file does); File is empty for a generated workload.
type Found struct {
	workload.Workload
	// Origin says where it is: "file:line"; for a workload kustomize
	// built, "file:line via kustomization"; or the generator whose output
	// holds it, as render.Origin writes it.
	Origin string
	// Generated says that a generator made it: the updaters of the config
	// move its images, not edits of a manifest. Workload.File is empty.
	Generated bool
	// Note says why its images cannot be moved, when they cannot.
	Note string
	// Kustomization is the kustomization file that built it, "" when it
	// was not built by kustomize.
	Kustomization string

	// targets say where each image of Containers is edited, in the same
	// order; nil for a generated workload.
	targets []target
}

// target is where the image of one container is edited: the container's
// image in the workload's own file, or an images entry of a kustomization.
type target struct {
	// file is the file edited: the workload's, or the kustomization's.
	file string
	// entry, for an images entry of the kustomization file, is its path
	// (document 0); nil for the workload's own file.
	entry []string
	// repo is the repository as the workload's file writes it, kept by an
	// edit there (kustomize may give the image another name).
	repo string
	// note says why the image cannot be edited, when it cannot.
	note string
}

// Workloads returns the workloads of the tree, read from the objects that
// render returns for it, as sync applies them: those of plain files (YAML
// or JSON), those kustomize builds (with the ids and images it gives them),
// and, when a .gitops.yaml applies, those of its generators, which needs
// them to be allowed to run. Each keeps where its images and policy are
// edited; a workload whose image has no such place (set by a kustomize
// patch, say) is listed with a Note saying why.
func (t Tree) Workloads(ctx context.Context) ([]Found, error) {
	found, _, err := t.Read(ctx)
	return found, err
}

// Read returns the workloads of the tree, as Workloads does, and its Flux
// v2 image automation objects (ImageRepository, ImagePolicy,
// ImageUpdateAutomation) read as configuration: from the same render, so
// that what sync leaves out as configuration is what images follows.
func (t Tree) Read(ctx context.Context) ([]Found, *imageauto.Config, error) {
	opts := t.Render
	opts.Generate, opts.Resources = t.Generate, true
	objs, err := render.RenderWith(ctx, t.FS, t.Dir, opts)
	if err != nil {
		return nil, nil, err
	}
	var auto []*unstructured.Unstructured
	for _, o := range objs {
		if imageauto.IsImageObject(o.Object) {
			auto = append(auto, o.Object)
		}
	}
	cfg, err := imageauto.Read(auto, t.Namespace)
	if err != nil {
		return nil, nil, err
	}
	found, err := t.workloads(objs)
	return found, cfg, err
}

func (t Tree) workloads(objs []render.Object) ([]Found, error) {
	r := &reader{tree: t, files: map[string]parsed{}, kusts: map[string]*kustomization{}}
	var out []Found
	for _, o := range objs {
		w, ok, err := workload.FromObject(o.Object.Object, t.Namespace)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Origin, err)
		}
		if !ok {
			continue
		}
		switch {
		case o.Origin.Generator != "":
			f, err := r.generated(w, o.Origin)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		case isKustomization(o.Origin.File):
			out = append(out, r.built(w, o.Origin))
		default:
			out = append(out, r.plain(w, o.Origin))
		}
	}
	return out, nil
}

// isKustomization says whether file is a kustomization file.
func isKustomization(file string) bool {
	return slices.Contains(konfig.RecognizedKustomizationFileNames(), path.Base(file))
}

// reader derives the workloads of one tree, reading each file once.
type reader struct {
	tree  Tree
	cfg   *generate.Config
	files map[string]parsed
	kusts map[string]*kustomization // by directory; nil when unreadable
}

// parsed is a manifest file read for its workloads' positions.
type parsed struct {
	ws  []workload.Workload
	err error
}

func (r *reader) parse(file string) parsed {
	if p, ok := r.files[file]; ok {
		return p
	}
	var p parsed
	data, err := fs.ReadFile(r.tree.FS, file)
	if err == nil {
		p.ws, err = workload.Parse(file, data, r.tree.Namespace)
	}
	p.err = err
	r.files[file] = p
	return p
}

// generated is a workload a generator printed: its images are moved by
// the updaters of the config, if it declares any.
func (r *reader) generated(w workload.Workload, origin render.Origin) (Found, error) {
	if r.cfg == nil {
		cfg, err := generate.Load(r.tree.FS, r.tree.Dir)
		if err != nil {
			return Found{}, err
		}
		if cfg == nil {
			return Found{}, fmt.Errorf("%s: no %s applies to %s", origin, generate.FileName, r.tree.Dir)
		}
		r.cfg = cfg
	}
	note := ""
	if !r.cfg.CanSetImage() {
		note = NoUpdater
	}
	return Found{Workload: w, Origin: origin.String(), Generated: true, Note: note}, nil
}

// plain is a workload read from a manifest file: its images and policy
// are edited in place, at the positions workload.Parse finds.
func (r *reader) plain(w workload.Workload, origin render.Origin) Found {
	f := Found{Workload: w, Origin: origin.String()}
	f.File = origin.File
	p := r.parse(origin.File)
	if p.err != nil {
		return f.cannot(fmt.Sprintf("cannot be edited: %v", p.err))
	}
	var same []workload.Workload
	for _, fw := range p.ws {
		if fw.ID == w.ID {
			same = append(same, fw)
		}
	}
	if len(same) > 1 {
		// The same id twice in one file: the one that starts where the
		// object does, which render counts from its document.
		same = slices.DeleteFunc(same, func(fw workload.Workload) bool { return fw.Line < origin.Line })
	}
	if len(same) == 0 {
		return f.cannot(fmt.Sprintf("cannot be edited: %s does not write %s as it is applied", origin.File, w.ID))
	}
	fw := same[0]
	f.Workload = fw
	f.Annotations = w.Annotations
	f.Containers = w.Containers
	f.Origin = fw.Origin()
	if !fw.Policy().Equal(w.Policy()) {
		f.PolicyNote = fmt.Sprintf("its policy cannot be edited in %s: the policy annotations applied are not those the file writes", fw.File)
	}
	f.targets = make([]target, len(w.Containers))
	for i, c := range w.Containers {
		fc, ok := fileContainer(fw, c)
		switch {
		case !ok:
			f.targets[i].note = fmt.Sprintf("cannot be edited: %s writes no container %s in %s", fw.File, c.Name, w.ID)
		case fc.Image != c.Image:
			f.targets[i].note = fmt.Sprintf("cannot be edited: %s writes image %s, but %s is applied", fw.File, fc.Image, c.Image)
		default:
			f.Containers[i].Target = fc.Target
			f.targets[i] = target{file: fw.File, repo: repoOf(fc.Image)}
		}
	}
	return f
}

// cannot returns f with a target for each container that says why it
// cannot be edited, and a PolicyNote that says it too.
func (f Found) cannot(note string) Found {
	f.targets = make([]target, len(f.Containers))
	for i := range f.targets {
		f.targets[i].note = note
	}
	if len(f.Containers) == 0 {
		f.Note = note
	}
	f.PolicyNote = note
	return f
}

// fileContainer returns the container of fw that c is.
func fileContainer(fw workload.Workload, c workload.Container) (workload.Container, bool) {
	for _, fc := range fw.Containers {
		if fc.Name == c.Name && fc.Init == c.Init {
			return fc, true
		}
	}
	return workload.Container{}, false
}

func repoOf(image string) string {
	ref, err := imageref.Parse(image)
	if err != nil {
		return ""
	}
	return ref.Repo
}
