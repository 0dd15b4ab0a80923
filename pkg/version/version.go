// Package version holds the build's version, stamped by the linker.
package version

import "runtime"

// Set with -ldflags "-X github.com/kubectl-gitops/kubectl-gitops/pkg/version.version=v1.2.3 ...".
var (
	version = "v0.0.0-dev"
	commit  = "unknown"
	date    = "unknown"
)

// Info describes this build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns this build's version information.
func Get() Info {
	return Info{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// Version returns the version string alone, such as "v1.2.3".
func Version() string { return version }
