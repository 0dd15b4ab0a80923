// Package generate runs the generators a repository declares in a
// .gitops.yaml: commands whose standard output is manifests, KRM functions
// (the kustomize/kpt ResourceList protocol, through kyaml's function
// runtime) that transform the rendered objects, and updaters that edit the
// generators' inputs when an image moves.
//
// A repository could otherwise run code on the operator's machine, so
// nothing runs unless the caller says the user allowed it (Options.Allow);
// without that, the config is an error naming what it would run. Programs
// run in a Workspace: a temporary copy of the commit's tree, with the
// working directory at the synced path, a minimal environment (never the
// user's credentials), a timeout that kills the whole process group, and
// the tail of their standard error in the error when they fail.
//
// Rendering the objects from the programs' output is pkg/render's job;
// this package knows the config, the workspace and the processes.
package generate

import (
	"time"
)

const (
	// FileName is the config file, looked for in the synced path and then
	// in each parent directory up to the repository's root. Its name
	// starts with a dot, so rendering never reads it as a manifest.
	FileName = ".gitops.yaml"
	// APIVersion and Kind name the config's schema.
	APIVersion = "kubectl-gitops.dev/v1alpha1"
	Kind       = "Generators"

	// DefaultTimeout bounds a program that declares no timeout.
	DefaultTimeout = 60 * time.Second
	// MaxOutput bounds what a program may print on standard output.
	MaxOutput = 64 << 20
	// stderrTail is how much of a failed program's standard error an
	// error quotes: the end, where the reason usually is.
	stderrTail = 4 << 10
)

// Options say whether generators may run, and how.
type Options struct {
	// Allow runs the programs the config declares. Only the user may set
	// it (a flag, an environment variable), never the repository.
	Allow bool
	// Revision is the commit being read, passed as KUBECTL_GITOPS_REVISION.
	Revision string
	// Namespace is the default namespace, passed as
	// KUBECTL_GITOPS_NAMESPACE.
	Namespace string
	// Path is the PATH the programs are looked up in and run with; ""
	// means this process's PATH. Relative entries are ignored: the
	// working directory is the repository's.
	Path string
	// TempDir is where workspaces are made; "" means os.TempDir().
	TempDir string
}
