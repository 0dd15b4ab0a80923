package images

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// NoUpdater is the note on a generated workload whose config declares no
// updater to move its images.
const NoUpdater = "generated: cannot be edited (no updater declared)"

// EditTree makes the changes in the tree and returns the new content of the
// files that changed. before are the tree's workloads (Tree.Workloads),
// which say where each image is edited. Changes of workloads in files are
// byte-exact edits: of the image in the workload's file, or, for a
// workload kustomize built whose tag an images entry of a kustomization
// sets, of that entry's newTag and digest. Changes of generated workloads
// are made by the setImage updaters of the config, run in a copy of the
// tree, one change at a time; the files they changed are what is returned
// (files they created are not).
//
// The result is then checked by finding the workloads again in the tree
// with the new files, rendered as sync renders it (kustomizations built,
// generators run): every image of every workload of before must be as it
// was, but for the changes, which must have landed.
func EditTree(ctx context.Context, t Tree, before []Found, changes []Change) (map[string][]byte, error) {
	var inFiles, generated []Change
	for _, ch := range changes {
		if ch.Generated {
			generated = append(generated, ch)
		} else {
			inFiles = append(inFiles, ch)
		}
	}
	files, err := editFiles(t.FS, before, inFiles)
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return files, nil
	}
	check := ""
	if len(generated) > 0 {
		cfg, err := generate.Load(t.FS, t.Dir)
		if err != nil {
			return nil, err
		}
		if cfg == nil {
			return nil, fmt.Errorf("no %s applies to %s: generated workloads cannot be edited", generate.FileName, t.Dir)
		}
		if files, err = runImageUpdaters(ctx, t, cfg, files, generated); err != nil {
			return nil, err
		}
		check = "; check the updaters of " + cfg.File
	}
	after := t
	after.FS = overlay{base: t.FS, files: files}
	found, err := after.Workloads(ctx)
	if err != nil {
		return nil, fmt.Errorf("rendering the tree after the edit: %w; nothing is committed%s", err, check)
	}
	if err := verifyImages(before, found, changes); err != nil {
		return nil, fmt.Errorf("the edit did not verify, nothing is committed: %w%s", err, check)
	}
	return files, nil
}

// runImageUpdaters makes the changes of generated workloads with the
// setImage updaters of cfg, in a copy of the tree holding files, and
// returns the files changed.
func runImageUpdaters(ctx context.Context, t Tree, cfg *generate.Config, files map[string][]byte, changes []Change) (map[string][]byte, error) {
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
	for _, ch := range changes {
		to, err := imageref.Parse(ch.To)
		if err != nil {
			return nil, err
		}
		u := generate.ImageUpdate{Workload: ch.Workload, Container: ch.Container, Repo: to.Repo, Tag: to.Tag, Digest: to.Digest}
		if err := ws.SetImage(ctx, cfg, t.Dir, u); err != nil {
			return nil, err
		}
	}
	return ws.Changes(t.FS)
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
