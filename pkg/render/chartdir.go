package render

import (
	"io/fs"
	"path"
)

// isChartDir says whether dir of fsys is a Helm chart: a directory holding
// Chart.yaml. Flux v1 repositories keep charts next to manifests
// (charts/<name>/, named by a HelmRelease's git and path); their templates
// are not manifests, and Flux v1 never read them as such.
func isChartDir(fsys fs.FS, dir string) bool {
	info, err := fs.Stat(fsys, path.Join(dir, "Chart.yaml"))
	return err == nil && !info.IsDir()
}
