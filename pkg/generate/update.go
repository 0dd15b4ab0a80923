package generate

import (
	"context"
	"fmt"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// ImageUpdate moves the image of one container of a generated workload.
type ImageUpdate struct {
	Workload  workload.ID
	Container string
	// Repo, Tag and Digest are the new image: the repository as written,
	// the tag, and the digest when the image is pinned by one.
	Repo, Tag, Digest string
}

// Ref is the new image reference: repo:tag, and @digest when pinned.
func (u ImageUpdate) Ref() string {
	return imageref.Ref{Repo: u.Repo, Tag: u.Tag, Digest: u.Digest}.String()
}

// PolicyUpdate sets or removes a policy of a generated workload.
type PolicyUpdate struct {
	Workload workload.ID
	// Policy is the policy's name without a prefix, as Flux v1 gave it:
	// "automated", "locked", "tag.<container>".
	Policy string
	// Value is its new value; "" removes it.
	Value string
}

// SetImage runs the setImage command of every updater that has one, in
// the order declared, with its working directory at dir and the update in
// its environment (Flux v1's FLUX_WORKLOAD, FLUX_WL_NS, FLUX_WL_KIND,
// FLUX_WL_NAME, FLUX_CONTAINER, FLUX_IMG, FLUX_TAG and their
// KUBECTL_GITOPS_ equivalents, plus KUBECTL_GITOPS_IMAGE_REF, the whole new
// reference). Each edits files of the workspace; Changes collects them.
func (w *Workspace) SetImage(ctx context.Context, cfg *Config, dir string, u ImageUpdate) error {
	env := append(workloadEnv(u.Workload),
		"FLUX_CONTAINER="+u.Container, "KUBECTL_GITOPS_CONTAINER="+u.Container,
		"FLUX_IMG="+u.Repo, "KUBECTL_GITOPS_IMAGE="+u.Repo,
		"FLUX_TAG="+u.Tag, "KUBECTL_GITOPS_TAG="+u.Tag,
		"KUBECTL_GITOPS_IMAGE_REF="+u.Ref(),
	)
	return w.update(ctx, cfg, dir, "setImage", func(up Updater) []string { return up.SetImage }, env)
}

// SetPolicy runs the setPolicy command of every updater that has one, as
// SetImage does, with FLUX_POLICY and FLUX_POLICY_VALUE (and
// KUBECTL_GITOPS_POLICY, KUBECTL_GITOPS_POLICY_VALUE) in its environment.
func (w *Workspace) SetPolicy(ctx context.Context, cfg *Config, dir string, u PolicyUpdate) error {
	env := append(workloadEnv(u.Workload),
		"FLUX_POLICY="+u.Policy, "KUBECTL_GITOPS_POLICY="+u.Policy,
		"FLUX_POLICY_VALUE="+u.Value, "KUBECTL_GITOPS_POLICY_VALUE="+u.Value,
	)
	return w.update(ctx, cfg, dir, "setPolicy", func(up Updater) []string { return up.SetPolicy }, env)
}

func (w *Workspace) update(ctx context.Context, cfg *Config, dir, field string, argv func(Updater) []string, env []string) error {
	ran := false
	for _, up := range cfg.Updaters {
		if len(argv(up)) == 0 {
			continue
		}
		ran = true
		err := w.run(ctx, process{
			what:    cfg.whatUpdater(up) + " " + field,
			argv:    argv(up),
			dir:     dir,
			env:     w.env(cfg, dir, append([]string{"KUBECTL_GITOPS_UPDATER=" + up.Name}, env...)...),
			timeout: up.Timeout,
		})
		if err != nil {
			return err
		}
	}
	if !ran {
		return fmt.Errorf("%s declares no updater with %s", cfg.File, field)
	}
	return nil
}

func workloadEnv(id workload.ID) []string {
	return []string{
		"FLUX_WORKLOAD=" + id.String(), "KUBECTL_GITOPS_WORKLOAD=" + id.String(),
		"FLUX_WL_NS=" + id.Namespace, "KUBECTL_GITOPS_WORKLOAD_NAMESPACE=" + id.Namespace,
		"FLUX_WL_KIND=" + id.Kind, "KUBECTL_GITOPS_WORKLOAD_KIND=" + id.Kind,
		"FLUX_WL_NAME=" + id.Name, "KUBECTL_GITOPS_WORKLOAD_NAME=" + id.Name,
	}
}
