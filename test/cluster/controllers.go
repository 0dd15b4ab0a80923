package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	controllerManagerName = "kube-controller-manager"
	schedulerName         = "kube-scheduler"
	kwokName              = "kwok"

	// NodeName is the name of the fake Node that kwok manages when
	// Options.Controllers is set. Pods scheduled to it become ready.
	NodeName = "kwok-node-0"
	// kwokNodeAnnotation marks the Nodes that kwok manages.
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
)

// server is a controller component serving /healthz over HTTPS.
type server struct {
	name, path string
	port       int
	args       []string // besides the common ones
	ready      string   // text in /healthz?verbose once fully started
}

// startControllers starts kube-controller-manager, kube-scheduler and kwok,
// creating the fake Node if needed, and waits until they are healthy and the
// Node is Ready and schedulable. The caller holds c.mu.
func (c *Cluster) startControllers(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := createNode(ctx, client); err != nil {
		return err
	}
	// A new kwok process has a new identity: it manages the Node only once
	// it holds the Node's Lease. Free it rather than wait for it to expire.
	err = client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(ctx, NodeName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete lease of node %s: %w", NodeName, err)
	}

	// Without --authentication-kubeconfig and --authorization-kubeconfig,
	// they serve only the paths always allowed, such as /healthz.
	common := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
	}
	servers := []server{
		{
			name: controllerManagerName, path: c.bins.controllerManager, port: c.ports.controllerManager,
			// No service account tokens (no signing key given, and Pods
			// need none) and no Node CIDR allocation (no kubelet).
			args: []string{"--controllers=*,-serviceaccount-token-controller,-node-ipam-controller"},
			// Controllers add their health checks once all are built:
			// until then, losing kube-apiserver makes it exit.
			ready: "[+]deployment-controller ok",
		},
		{name: schedulerName, path: c.bins.scheduler, port: c.ports.scheduler},
	}
	started := make([]*process, len(servers))
	for i, s := range servers {
		args := append(append([]string{}, common...),
			fmt.Sprintf("--secure-port=%d", s.port),
			"--cert-dir="+filepath.Join(c.Dir, s.name))
		p, err := c.launch(s.name, s.path, append(args, s.args...), nil)
		if err != nil {
			return err
		}
		c.controllers = append(c.controllers, p)
		started[i] = p
	}
	kwok, err := c.startKwok()
	if err != nil {
		return err
	}

	for i, s := range servers {
		health := probe{
			url:      fmt.Sprintf("https://127.0.0.1:%d/healthz?verbose", s.port),
			caFile:   filepath.Join(c.Dir, s.name, s.name+".crt"),
			contains: s.ready,
		}
		if err := c.waitFor(ctx, s.name+" /healthz", started[i], health.check); err != nil {
			return err
		}
	}
	return c.waitFor(ctx, "node "+NodeName+" to be Ready and schedulable", kwok, func(ctx context.Context) error {
		return nodeReady(ctx, client)
	})
}

// startKwok starts kwok, managing the Nodes annotated kwokNodeAnnotation=fake
// with the stages of the testbin directory.
func (c *Cluster) startKwok() (*process, error) {
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
	}
	for _, stage := range c.bins.stages {
		args = append(args, "--config="+stage)
	}
	// kwok also loads $KWOK_WORKDIR/kwok.yaml (default ~/.kwok) if it
	// exists: point it to an empty directory of the cluster.
	env := []string{"KWOK_WORKDIR=" + filepath.Join(c.Dir, kwokName)}
	p, err := c.launch(kwokName, c.bins.kwok, args, env)
	if err != nil {
		return nil, err
	}
	c.controllers = append(c.controllers, p)
	return p, nil
}

// stopControllers stops the controllers, in parallel. The caller holds c.mu.
func (c *Cluster) stopControllers() error {
	errs := make([]error, len(c.controllers))
	var wg sync.WaitGroup
	for i, p := range c.controllers {
		wg.Go(func() { errs[i] = p.stop() })
	}
	wg.Wait()
	c.controllers = nil
	return errors.Join(errs...)
}

// createNode creates the fake Node that kwok manages, unless it exists (in
// a reused Dir). Its capacity is kwok's default: large enough for any test.
func createNode(ctx context.Context, client kubernetes.Interface) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1k"),
		corev1.ResourceMemory: resource.MustParse("1Ti"),
		corev1.ResourcePods:   resource.MustParse("1M"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{kwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	_, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	return nil
}

// nodeReady checks that the fake Node is Ready and that kube-controller-manager
// has lifted the taints that keep Pods off a Node that is not Ready.
func nodeReady(ctx context.Context, client kubernetes.Interface) error {
	node, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return fmt.Errorf("node %s is not Ready", NodeName)
	}
	for _, taint := range node.Spec.Taints {
		if taint.Key == corev1.TaintNodeNotReady || taint.Key == corev1.TaintNodeUnreachable {
			return fmt.Errorf("node %s still has taint %s", NodeName, taint.ToString())
		}
	}
	return nil
}
