package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Cluster is a running control plane. Its methods are safe for concurrent
// use.
type Cluster struct {
	// Kubeconfig is the path of a self-contained admin kubeconfig file
	// (system:masters, server certificate verified), in Dir.
	Kubeconfig string
	// RESTConfig is the same admin configuration. Copy it with
	// rest.CopyConfig before changing it.
	RESTConfig *rest.Config
	// Dir is the working directory: etcd data, certificates, the kubeconfig
	// and, unless Options.Logs is set, one log file per component in
	// Dir/logs.
	Dir string

	opts    Options
	bins    binaries
	tempDir bool // Dir was created by Start and is removed by Stop
	token   string
	ports   struct{ etcdClient, etcdPeer, apiserver, controllerManager, scheduler int }
	logMu   sync.Mutex // serializes writes to opts.Logs

	mu            sync.Mutex // guards the fields below
	apiserverArgv []string
	etcd          *process
	apiserver     *process // nil while stopped by StopAPIServer
	controllers   []*process
	stopped       bool
}

// Start runs a control plane as opts says and returns once it is ready: the
// API server answers /readyz and the default namespace exists; with
// Options.Controllers, the controllers are healthy and the Node NodeName is
// Ready. ctx bounds the startup only; the cluster runs until Stop. On error,
// everything started is stopped.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bins, err := findBinaries(opts)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, bins: bins, Dir: opts.Dir}
	if err := c.start(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("start test cluster: %w", err), c.Stop())
	}
	return c, nil
}

// start does the work of Start.
func (c *Cluster) start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.prepareDir(); err != nil {
		return err
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	c.ports.etcdClient, c.ports.etcdPeer, c.ports.apiserver = ports[0], ports[1], ports[2]
	c.ports.controllerManager, c.ports.scheduler = ports[3], ports[4]

	if c.token, err = newToken(); err != nil {
		return err
	}
	tokenFile := filepath.Join(c.Dir, "pki", "token.csv")
	saKeyFile := filepath.Join(c.Dir, "pki", "service-account.key")
	if err := writeTokenFile(tokenFile, c.token); err != nil {
		return err
	}
	if err := writeServiceAccountKey(saKeyFile); err != nil {
		return err
	}
	c.apiserverArgv = c.apiserverArgs(tokenFile, saKeyFile)

	if err := c.startEtcd(ctx); err != nil {
		return err
	}
	if err := c.startAPIServer(ctx); err != nil {
		return err
	}
	ca, err := readCA(c.apiserverCertFile())
	if err != nil {
		return err
	}
	c.RESTConfig = adminConfig(c.apiserverURL(), ca, c.token)
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, c.RESTConfig); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := c.waitDefaultNamespace(ctx, client); err != nil {
		return err
	}
	if c.opts.Controllers {
		return c.startControllers(ctx)
	}
	return nil
}

// prepareDir creates the working directory and its subdirectories.
func (c *Cluster) prepareDir() error {
	if c.Dir == "" {
		dir, err := os.MkdirTemp("", "kubectl-gitops-cluster-")
		if err != nil {
			return fmt.Errorf("working directory: %w", err)
		}
		c.Dir, c.tempDir = dir, true
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	c.Dir = dir
	for _, sub := range []string{"logs", "pki", "etcd", apiserverName, controllerManagerName, schedulerName, kwokName} {
		if err := os.MkdirAll(filepath.Join(c.Dir, sub), 0o700); err != nil {
			return fmt.Errorf("working directory: %w", err)
		}
	}
	return nil
}

// launch starts the component name, its output going to its log.
func (c *Cluster) launch(name, path string, args, env []string) (*process, error) {
	out, err := c.logOutput(name)
	if err != nil {
		return nil, err
	}
	return startProcess(name, path, args, env, out)
}

// StopAPIServer stops kube-apiserver, to test how clients cope with an
// outage: connections are refused until StartAPIServer. etcd keeps running
// with all the data. The controllers, if any, are stopped too: restarted
// along with kube-apiserver, they resume at once, whereas surviving ones
// would resume only after client-go's reconnection backoff, up to a minute
// later.
func (c *Cluster) StopAPIServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.apiserver == nil {
		return errors.New("stop kube-apiserver: not running")
	}
	err := c.stopControllers()
	if stopErr := c.apiserver.stop(); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	c.apiserver = nil
	if err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same
// port with the same data and certificates, so Kubeconfig and RESTConfig
// stay valid, then the controllers if Options.Controllers is set. It
// returns once all are ready, as Start does; ctx bounds the wait.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.apiserver != nil {
		return errors.New("start kube-apiserver: cluster stopped or kube-apiserver already running")
	}
	err := c.startAPIServer(ctx)
	if err == nil && c.opts.Controllers {
		err = c.startControllers(ctx)
	}
	if err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}

// Stop stops every component, and waits for them to exit: first the
// controllers, then kube-apiserver, then etcd. It removes Dir if Start
// created it. Calling Stop again does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true

	errs := []error{c.stopControllers()}
	for _, p := range []*process{c.apiserver, c.etcd} {
		if p != nil {
			errs = append(errs, p.stop())
		}
	}
	c.apiserver, c.etcd = nil, nil
	if c.tempDir {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove working directory: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop test cluster: %w", err)
	}
	return nil
}
