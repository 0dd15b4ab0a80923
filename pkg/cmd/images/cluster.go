package images

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/images"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// clusterView is what the cluster can add to a scan, when it is reachable:
// running images and image pull secrets.
type clusterView struct {
	factory     kcmdutil.Factory
	errOut      io.Writer
	pullSecrets []corev1.Secret
	live        images.Live
	ok          bool
}

// clusterTimeout bounds how long images waits for a cluster it can do without.
const clusterTimeout = 10 * time.Second

// read loads the live state of the workloads; a cluster that cannot be
// reached is reported once and otherwise ignored.
func (v *clusterView) read(ctx context.Context, ids []workload.ID) {
	kube, err := v.factory.KubernetesClientSet()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	live, err := images.ReadLive(ctx, kube, ids)
	if err != nil {
		fmt.Fprintf(v.errOut, "note: not showing running images: %v\n", err)
		return
	}
	v.live, v.pullSecrets, v.ok = live, live.PullSecrets, true
}

// fill sets the running image of each container.
func (v *clusterView) fill(containers []images.Container) {
	if !v.ok {
		return
	}
	for i := range containers {
		c := &containers[i]
		c.Running = v.live.Images[c.Workload.String()+"/"+c.Name]
	}
}
