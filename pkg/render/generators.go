package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
)

// Options tune RenderWith.
type Options struct {
	// Generate says whether the programs a generator config declares may
	// run, and how. Its zero value does not let them: a tree with a config
	// is then an error naming them.
	Generate generate.Options
	// Charts, when set, renders a HelmRelease's chart: RenderWith then
	// replaces each HelmRelease by what it returns and drops Flux's
	// sources (see charts.go). all is every object rendered. Nil leaves
	// HelmReleases as they are.
	Charts func(ctx context.Context, helmRelease Object, all []Object) ([]Object, error)
	// Resources asks kustomize which file of the commit each object it
	// builds came from, for Origin.Resource. The objects are the same
	// either way, but kustomize takes about twice as long when it tracks
	// origins, so only readers that edit those files ask.
	Resources bool
}

// RenderWith is Render with options. When a generator config (see
// pkg/generate) is in dir or the nearest parent directory that has one, the
// objects are what it declares, in order:
//
//   - with includeFiles, the manifest files under dir, as Render reads them;
//   - then each generator in turn: a command's standard output is decoded
//     like a file (origin `generator "name" (config), output line N`) and
//     appended; a KRM function is given every object so far and its output
//     replaces them (objects keep their origin when the function keeps
//     them).
//
// Programs run only when opts.Generate.Allow is set, in a copy of fsys on
// disk with the working directory at dir (see generate.Workspace). A
// command that prints no object is an error, so that a generator that
// silently fails cannot empty the cluster.
func RenderWith(ctx context.Context, fsys fs.FS, dir string, opts Options) ([]Object, error) {
	if opts.Charts != nil {
		return renderCharts(ctx, fsys, dir, opts)
	}
	if err := checkDir(fsys, dir); err != nil {
		return nil, err
	}
	cfg, err := generate.Load(fsys, dir)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return renderFiles(ctx, fsys, dir, opts.Resources)
	}
	if !opts.Generate.Allow {
		return nil, &generate.NotAllowedError{Config: cfg}
	}
	ws, err := generate.NewWorkspace(fsys, opts.Generate)
	if err != nil {
		return nil, err
	}
	defer func() { _ = ws.Close() }()
	if err := ws.CheckGenerators(cfg, dir); err != nil {
		return nil, err
	}
	var objs []Object
	if cfg.IncludeFiles {
		if objs, err = renderFiles(ctx, fsys, dir, opts.Resources); err != nil {
			return nil, err
		}
	}
	for _, g := range cfg.Generators {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if g.Function != nil {
			if objs, err = transform(ctx, ws, cfg, g, dir, objs); err != nil {
				return nil, err
			}
			continue
		}
		out, err := ws.Generate(ctx, cfg, g, dir)
		if err != nil {
			return nil, err
		}
		origin := Origin{File: cfg.File, Generator: g.Name}
		got, errs := decodeOutput(origin, out, true)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		if len(got) == 0 {
			return nil, &Error{Origin: origin, Err: errors.New("printed no objects: a generator must print at least one, so that one that fails silently cannot empty the cluster")}
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// originAnnotation carries an object's index through a KRM function, to
// give what comes back its origin. The internal.config.kubernetes.io/
// prefix is the one the KRM functions specification reserves for the
// orchestrator's bookkeeping.
const originAnnotation = "internal.config.kubernetes.io/kubectl-gitops-origin"

// transform runs the KRM function g on objs.
func transform(ctx context.Context, ws *generate.Workspace, cfg *generate.Config, g generate.Generator, dir string, objs []Object) ([]Object, error) {
	items := make([]*yaml.RNode, 0, len(objs))
	for i, o := range objs {
		n, err := yaml.FromMap(o.Object.Object)
		if err == nil {
			err = n.PipeE(yaml.SetAnnotation(originAnnotation, strconv.Itoa(i)))
		}
		if err != nil {
			return nil, &Error{Origin: o.Origin, Err: fmt.Errorf("passing the object to %s: %w", cfg.What(g), err)}
		}
		items = append(items, n)
	}
	out, err := ws.Function(ctx, cfg, g, dir, items)
	if err != nil {
		return nil, err
	}
	fnOrigin := Origin{File: cfg.File, Generator: g.Name}
	var res []Object
	var errs []error
	for _, n := range out {
		origin := fnOrigin
		if i, err := strconv.Atoi(n.GetAnnotations()[originAnnotation]); err == nil && i >= 0 && i < len(objs) {
			origin = objs[i].Origin
		}
		data, err := n.MarshalJSON()
		if err != nil {
			errs = append(errs, &Error{Origin: fnOrigin, Err: err})
			continue
		}
		got, derrs := decodeOutput(fnOrigin, data, false)
		errs = append(errs, derrs...)
		for _, o := range got {
			dropRuntimeAnnotations(o.Object.Object)
			o.Origin = origin
			res = append(res, o)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return res, nil
}

// dropRuntimeAnnotations removes the annotations the function runtime
// adds for its bookkeeping (internal.config.kubernetes.io/ and their legacy
// forms), and the annotations map when nothing else is left in it.
func dropRuntimeAnnotations(obj map[string]any) {
	meta, _ := obj["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		return
	}
	for k := range ann {
		switch {
		case strings.HasPrefix(k, "internal.config.kubernetes.io/"),
			k == "config.kubernetes.io/path", k == "config.kubernetes.io/index", k == "config.k8s.io/id":
			delete(ann, k)
		}
	}
	if len(ann) == 0 {
		delete(meta, "annotations")
	}
}
