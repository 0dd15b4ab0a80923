package cluster_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

// TestAPIServerOnly starts etcd and kube-apiserver, uses the kubeconfig
// file, and checks that Stop leaves neither a listener nor the directory.
func TestAPIServerOnly(t *testing.T) {
	begin := time.Now()
	c := cluster.ForTest(t, cluster.Options{})
	t.Logf("kube-apiserver ready in %s", time.Since(begin).Round(time.Millisecond))

	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	if cfg.Insecure || len(cfg.CAData) == 0 {
		t.Fatalf("kubeconfig does not verify the server: insecure=%v, %d bytes of CA", cfg.Insecure, len(cfg.CAData))
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	if _, err := client.CoreV1().Namespaces().Get(t.Context(), metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
		t.Fatalf("get namespace default: %v", err)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	host, err := url.Parse(c.RESTConfig.Host)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", host.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Stop", host.Host)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working directory %s not removed: %v", c.Dir, err)
	}
}

// TestControllersAndOutage starts the full control plane, rolls out a
// Deployment on the kwok Node, then restarts kube-apiserver.
func TestControllersAndOutage(t *testing.T) {
	begin := time.Now()
	c := cluster.ForTest(t, cluster.Options{Controllers: true})
	t.Logf("control plane with controllers ready in %s", time.Since(begin).Round(time.Millisecond))
	client := kubernetes.NewForConfigOrDie(c.RESTConfig)
	ctx := t.Context()

	deployments := client.AppsV1().Deployments(metav1.NamespaceDefault)
	if _, err := deployments.Create(ctx, deployment("web"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	begin = time.Now()
	waitAvailable(t, deployments, "web", 1)
	t.Logf("deployment available in %s", time.Since(begin).Round(time.Millisecond))

	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	short := rest.CopyConfig(c.RESTConfig)
	short.Timeout = 2 * time.Second
	if _, err := kubernetes.NewForConfigOrDie(short).Discovery().ServerVersion(); err == nil {
		t.Fatal("request succeeded while kube-apiserver is stopped")
	} else {
		t.Logf("while stopped, as expected: %v", err)
	}

	begin = time.Now()
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver and controllers restarted in %s", time.Since(begin).Round(time.Millisecond))
	d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment after restart: %v", err)
	}
	if d.Status.AvailableReplicas != 1 {
		t.Errorf("after restart, availableReplicas = %d, want 1", d.Status.AvailableReplicas)
	}
	// The controllers work again: scale up.
	scale, err := deployments.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get scale: %v", err)
	}
	scale.Spec.Replicas = 2
	if _, err := deployments.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("scale deployment: %v", err)
	}
	waitAvailable(t, deployments, "web", 2)
}

// waitAvailable waits up to 60s for the Deployment name to have want
// available and ready replicas.
func waitAvailable(t *testing.T, deployments appsv1client.DeploymentInterface, name string, want int32) {
	t.Helper()
	var last appsv1.DeploymentStatus
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := deployments.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = d.Status
		return d.Status.AvailableReplicas == want && d.Status.ReadyReplicas == want, nil
	})
	if err != nil {
		t.Fatalf("deployment %s: want %d available replicas: %v; last status: %+v", name, want, err, last)
	}
}

// deployment returns a one-replica Deployment; kwok fakes its Pod.
func deployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	replicas := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:    "main",
					Image:   "busybox:1.36",
					Command: []string{"sleep", "infinity"},
				}}},
			},
		},
	}
}
