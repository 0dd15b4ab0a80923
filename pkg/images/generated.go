package images

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing/fstest"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// NoUpdater is the note on a generated workload whose config declares no
// updater to move its images.
const NoUpdater = "generated: cannot be edited (no updater declared)"

// Tree is the part of a commit that images reads: the manifests under Dir
// of FS, and how to run the generators a .gitops.yaml declares for them.
type Tree struct {
	FS        fs.FS
	Dir       string
	Namespace string // the default namespace
	Generate  generate.Options
}

// Found is a workload of a tree, and how its images are moved.
type Found struct {
	workload.Workload
	// Origin says where it is: "file:line", or the generator whose output
	// holds it, as render.Origin writes it.
	Origin string
	// Generated says that a generator made it: the updaters of the config
	// move its images, not edits of a manifest. Workload.File is empty.
	Generated bool
	// Note says why its images cannot be moved, when they cannot.
	Note string
}

// Workloads returns the workloads of the tree: those in the manifest
// files (workload.Find), unless a .gitops.yaml replaces them with the
// output of generators, and then those in that output, which needs the
// generators to be allowed to run.
func (t Tree) Workloads(ctx context.Context) ([]Found, error) {
	cfg, err := generate.Load(t.FS, t.Dir)
	if err != nil {
		return nil, err
	}
	var out []Found
	if cfg == nil || cfg.IncludeFiles {
		ws, err := workload.Find(t.FS, t.Dir, t.Namespace)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			out = append(out, Found{Workload: w, Origin: w.Origin()})
		}
	}
	if cfg == nil {
		return out, nil
	}
	objs, err := render.RenderWith(ctx, t.FS, t.Dir, render.Options{Generate: t.Generate})
	if err != nil {
		return nil, err
	}
	note := ""
	if !cfg.CanSetImage() {
		note = NoUpdater
	}
	for _, o := range objs {
		if o.Origin.Generator == "" {
			continue // from a file: found above, where it can be edited
		}
		data, err := sigsyaml.Marshal(o.Object.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Origin, err)
		}
		ws, err := workload.Find(fstest.MapFS{"object.yaml": {Data: data}}, ".", t.Namespace)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Origin, err)
		}
		for _, w := range ws {
			w.File, w.Line = "", 0
			out = append(out, Found{Workload: w, Origin: o.Origin.String(), Generated: true, Note: note})
		}
	}
	return out, nil
}

// EditTree makes the changes in the tree and returns the new content of the
// files that changed. Changes of workloads in files are byte-exact edits
// of those files (Edit). Changes of generated workloads are made by the
// setImage updaters of the config, run in a copy of the tree, one change at
// a time; the files they changed are what is returned (files they created
// are not).
//
// The result is then checked by finding the workloads again, generators
// included, in the tree with the new files: every image of every workload
// of before (the tree's workloads) must be as it was, but for the changes,
// which must have landed.
func EditTree(ctx context.Context, t Tree, before []Found, changes []Change) (map[string][]byte, error) {
	var inFiles, generated []Change
	for _, ch := range changes {
		if ch.Generated {
			generated = append(generated, ch)
		} else {
			inFiles = append(inFiles, ch)
		}
	}
	files := map[string][]byte{}
	if len(inFiles) > 0 {
		var err error
		if files, err = Edit(t.FS, t.Dir, t.Namespace, inFiles); err != nil {
			return nil, err
		}
	}
	if len(generated) == 0 {
		return files, nil
	}
	cfg, err := generate.Load(t.FS, t.Dir)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("no %s applies to %s: generated workloads cannot be edited", generate.FileName, t.Dir)
	}
	if !t.Generate.Allow {
		return nil, &generate.NotAllowedError{Config: cfg}
	}
	ws, err := generate.NewWorkspace(t.FS, t.Generate)
	if err != nil {
		return nil, err
	}
	defer func() { _ = ws.Close() }()
	if err := ws.CheckUpdaters(cfg, t.Dir); err != nil {
		return nil, err
	}
	if err := ws.WriteFiles(files); err != nil {
		return nil, err
	}
	for _, ch := range generated {
		to, err := imageref.Parse(ch.To)
		if err != nil {
			return nil, err
		}
		u := generate.ImageUpdate{Workload: ch.Workload, Container: ch.Container, Repo: to.Repo, Tag: to.Tag, Digest: to.Digest}
		if err := ws.SetImage(ctx, cfg, t.Dir, u); err != nil {
			return nil, err
		}
	}
	if files, err = ws.Changes(t.FS); err != nil {
		return nil, err
	}
	after := t
	after.FS = overlay{base: t.FS, files: files}
	found, err := after.Workloads(ctx)
	if err != nil {
		return nil, fmt.Errorf("rendering the tree after the updaters of %s ran: %w; nothing is committed", cfg.File, err)
	}
	if err := verifyImages(before, found, changes); err != nil {
		return nil, fmt.Errorf("the edit did not verify, nothing is committed: %w; check the updaters of %s", err, cfg.File)
	}
	return files, nil
}

// verifyImages checks that the images of the workloads after an edit are
// those before, with the changes made.
func verifyImages(before, after []Found, changes []Change) error {
	type key struct {
		generated bool
		id        workload.ID
		container string
	}
	images := func(found []Found, changed bool) map[key][]string {
		m := map[key][]string{}
		for _, w := range found {
			for _, c := range w.Containers {
				k := key{w.Generated, w.ID, c.Name}
				img := c.Image
				if changed {
					for _, ch := range changes {
						if ch.Generated == w.Generated && ch.Workload == w.ID && ch.Container == c.Name && ch.From == img {
							img = ch.To
						}
					}
				}
				m[k] = append(m[k], img)
			}
		}
		for _, v := range m {
			slices.Sort(v)
		}
		return m
	}
	want, got := images(before, true), images(after, false)
	var errs []error
	describe := func(k key) string {
		s := fmt.Sprintf("%s container %s", k.id, k.container)
		if k.generated {
			s += " (generated)"
		}
		return s
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s is gone", describe(k)))
		case !slices.Equal(g, w):
			errs = append(errs, fmt.Errorf("%s: image %s, want %s", describe(k), strings.Join(g, ", "), strings.Join(w, ", ")))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			errs = append(errs, fmt.Errorf("%s appeared", describe(k)))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// SetPolicy changes policies of the generated workload id with the setPolicy
// updaters of the config, run in a copy of the tree, and returns the new
// content of the files they changed. The tree is rendered again and the
// workload's annotations checked to hold the new values before anything is
// returned.
func (t Tree) SetPolicy(ctx context.Context, id workload.ID, updates []generate.PolicyUpdate) (map[string][]byte, error) {
	cfg, err := generate.Load(t.FS, t.Dir)
	if err != nil {
		return nil, err
	}
	if cfg == nil || !cfg.CanSetPolicy() {
		return nil, fmt.Errorf("%s is generated and its policy cannot be edited: no updater with setPolicy is declared", id)
	}
	if !t.Generate.Allow {
		return nil, &generate.NotAllowedError{Config: cfg}
	}
	ws, err := generate.NewWorkspace(t.FS, t.Generate)
	if err != nil {
		return nil, err
	}
	defer func() { _ = ws.Close() }()
	if err := ws.CheckUpdaters(cfg, t.Dir); err != nil {
		return nil, err
	}
	for _, u := range updates {
		u.Workload = id
		if err := ws.SetPolicy(ctx, cfg, t.Dir, u); err != nil {
			return nil, err
		}
	}
	files, err := ws.Changes(t.FS)
	if err != nil {
		return nil, err
	}
	after := t
	after.FS = overlay{base: t.FS, files: files}
	found, err := after.Workloads(ctx)
	if err != nil {
		return nil, fmt.Errorf("rendering the tree after the updaters of %s ran: %w; nothing is committed", cfg.File, err)
	}
	for _, f := range found {
		if f.ID != id || !f.Generated {
			continue
		}
		for _, u := range updates {
			if got, _ := annotations.Lookup(f.Annotations, u.Policy); got != u.Value {
				return nil, fmt.Errorf("after the updaters of %s ran, %s has %s %q, want %q; nothing is committed", cfg.File, id, u.Policy, got, u.Value)
			}
		}
		return files, nil
	}
	return nil, fmt.Errorf("after the updaters of %s ran, %s is no longer generated; nothing is committed", cfg.File, id)
}
