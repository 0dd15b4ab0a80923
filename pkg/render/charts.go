package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Flux's API groups of HelmReleases and of sources.
const (
	helmGroupV1     = "helm.fluxcd.io"
	helmGroupV2     = "helm.toolkit.fluxcd.io"
	sourcesGroup    = "source.toolkit.fluxcd.io"
	helmReleaseKind = "HelmRelease"
)

// renderCharts is RenderWith with opts.Charts: the objects are rendered,
// then each HelmRelease is replaced, in place, by what opts.Charts renders
// of it, and Flux v2's HelmRepository, GitRepository and OCIRepository
// sources are dropped: they only say where charts come from, and are
// never applied. Another source kind (a Bucket, a HelmChart) is an error
// naming its file, as is every HelmRelease that does not render; then no
// object is returned.
func renderCharts(ctx context.Context, fsys fs.FS, dir string, opts Options) ([]Object, error) {
	charts := opts.Charts
	opts.Charts = nil
	objs, err := RenderWith(ctx, fsys, dir, opts)
	if err != nil {
		return nil, err
	}
	var out []Object
	var errs []error
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		gvk := o.Object.GroupVersionKind()
		switch {
		case gvk.Kind == helmReleaseKind && (gvk.Group == helmGroupV1 || gvk.Group == helmGroupV2):
			rendered, err := charts(ctx, o, objs)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				var re *Error
				if !errors.As(err, &re) {
					err = &Error{Origin: o.Origin, Err: err}
				}
				errs = append(errs, err)
				continue
			}
			out = append(out, rendered...)
		case gvk.Group == sourcesGroup:
			switch gvk.Kind {
			case "HelmRepository", "GitRepository", "OCIRepository":
			default:
				errs = append(errs, &Error{Origin: o.Origin, Err: fmt.Errorf("%s %s: kubectl gitops renders charts from HelmRepository and GitRepository sources only, and never applies a source: remove it, or use one of those", gvk.Kind, o.Object.GetName())})
			}
		default:
			out = append(out, o)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
