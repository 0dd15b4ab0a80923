package images

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// Live is what the cluster says about the workloads: the image each
// container runs, and the image pull secrets of the workloads and their
// service accounts.
type Live struct {
	// Images maps "namespace:kind/name/container" to the image.
	Images      map[string]string
	PullSecrets []corev1.Secret
}

// ReadLive reads the workloads from the cluster. A workload the cluster does
// not have is skipped; other errors are returned.
func ReadLive(ctx context.Context, kube kubernetes.Interface, ids []workload.ID) (Live, error) {
	live := Live{Images: map[string]string{}}
	secrets := map[string]bool{}
	for _, id := range ids {
		spec, err := podSpec(ctx, kube, id)
		if apierrors.IsNotFound(err) || (err == nil && spec == nil) {
			continue
		}
		if err != nil {
			return live, fmt.Errorf("reading %s from the cluster: %w", id, err)
		}
		for _, c := range append(spec.InitContainers, spec.Containers...) {
			live.Images[id.String()+"/"+c.Name] = c.Image
		}
		names := make([]string, 0, len(spec.ImagePullSecrets))
		for _, s := range spec.ImagePullSecrets {
			names = append(names, s.Name)
		}
		sa := spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		if acct, err := kube.CoreV1().ServiceAccounts(id.Namespace).Get(ctx, sa, metav1.GetOptions{}); err == nil {
			for _, s := range acct.ImagePullSecrets {
				names = append(names, s.Name)
			}
		}
		for _, name := range names {
			key := id.Namespace + "/" + name
			if secrets[key] {
				continue
			}
			secrets[key] = true
			if s, err := kube.CoreV1().Secrets(id.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
				live.PullSecrets = append(live.PullSecrets, *s)
			}
		}
	}
	return live, nil
}

// podSpec returns the pod spec of a workload in the cluster.
func podSpec(ctx context.Context, kube kubernetes.Interface, id workload.ID) (*corev1.PodSpec, error) {
	get := metav1.GetOptions{}
	ns := id.Namespace
	switch id.Kind {
	case "deployment":
		o, err := kube.AppsV1().Deployments(ns).Get(ctx, id.Name, get)
		if err != nil {
			return nil, err
		}
		return &o.Spec.Template.Spec, nil
	case "statefulset":
		o, err := kube.AppsV1().StatefulSets(ns).Get(ctx, id.Name, get)
		if err != nil {
			return nil, err
		}
		return &o.Spec.Template.Spec, nil
	case "daemonset":
		o, err := kube.AppsV1().DaemonSets(ns).Get(ctx, id.Name, get)
		if err != nil {
			return nil, err
		}
		return &o.Spec.Template.Spec, nil
	case "replicaset":
		o, err := kube.AppsV1().ReplicaSets(ns).Get(ctx, id.Name, get)
		if err != nil {
			return nil, err
		}
		return &o.Spec.Template.Spec, nil
	case "job":
		o, err := kube.BatchV1().Jobs(ns).Get(ctx, id.Name, get)
		if err != nil {
			return nil, err
		}
		return &o.Spec.Template.Spec, nil
	case "cronjob":
		o, err := kube.BatchV1().CronJobs(ns).Get(ctx, id.Name, get)
		if err != nil {
			return nil, err
		}
		return &o.Spec.JobTemplate.Spec.Template.Spec, nil
	case "pod":
		o, err := kube.CoreV1().Pods(ns).Get(ctx, id.Name, get)
		if err != nil {
			return nil, err
		}
		return &o.Spec, nil
	}
	return nil, nil
}
