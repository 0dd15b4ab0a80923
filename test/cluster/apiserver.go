package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	// apiserverName names the kube-apiserver component in logs and errors.
	apiserverName = "kube-apiserver"
	// serviceCIDR is the range of Service cluster IPs.
	serviceCIDR = "10.0.0.0/24"
)

// apiserverURL is the address of kube-apiserver.
func (c *Cluster) apiserverURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.ports.apiserver)
}

// apiserverCertFile is where kube-apiserver writes its self-signed serving
// certificate, followed by the CA that signed it. It is reused on restart.
func (c *Cluster) apiserverCertFile() string {
	return filepath.Join(c.Dir, apiserverName, "apiserver.crt")
}

// apiserverArgs returns the flags of kube-apiserver. tokenFile grants the
// admin token; saKeyFile signs service account tokens.
func (c *Cluster) apiserverArgs(tokenFile, saKeyFile string) []string {
	return []string{
		"--etcd-servers=" + c.etcdURL(),
		"--bind-address=127.0.0.1",
		// Advertise loopback, whatever the host's interfaces; the endpoint
		// reconciler would refuse it, and there are no Pods to use it.
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		fmt.Sprintf("--secure-port=%d", c.ports.apiserver),
		"--cert-dir=" + filepath.Dir(c.apiserverCertFile()),
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + saKeyFile,
		"--service-account-signing-key-file=" + saKeyFile,
		"--service-cluster-ip-range=" + serviceCIDR,
		// Pods need no service account token: there is no kubelet.
		"--disable-admission-plugins=ServiceAccount",
		// On SIGTERM, close open watches after 2s instead of waiting up to
		// a minute for them to end.
		"--shutdown-send-retry-after=true",
	}
}

// startAPIServer starts kube-apiserver with c.apiserverArgv and waits until
// it is ready, else stops it. The caller holds c.mu.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	p, err := c.launch(apiserverName, c.bins.apiserver, c.apiserverArgv, nil)
	if err != nil {
		return err
	}
	ready := probe{url: c.apiserverURL() + "/readyz", caFile: c.apiserverCertFile(), token: c.token}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", p, ready.check); err != nil {
		return errors.Join(err, p.stop())
	}
	c.apiserver = p
	return nil
}

// waitDefaultNamespace waits until the "default" namespace exists: it is
// created shortly after kube-apiserver reports ready.
func (c *Cluster) waitDefaultNamespace(ctx context.Context, client kubernetes.Interface) error {
	return c.waitFor(ctx, "namespace default", c.apiserver, func(ctx context.Context) error {
		_, err := client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		return err
	})
}
