package cluster

import (
	"context"
	"fmt"
	"path/filepath"
)

// etcdName names the etcd component in logs and errors.
const etcdName = "etcd"

// etcdURL is the client URL of etcd.
func (c *Cluster) etcdURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", c.ports.etcdClient)
}

// startEtcd starts a single member etcd with its data in Dir/etcd and
// waits until it is healthy.
func (c *Cluster) startEtcd(ctx context.Context) error {
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.ports.etcdPeer)
	args := []string{
		"--name=default",
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + c.etcdURL(),
		"--advertise-client-urls=" + c.etcdURL(),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
		"--unsafe-no-fsync", // test data: speed over durability
		"--log-level=warn",
	}
	p, err := c.launch(etcdName, c.bins.etcd, args, nil)
	if err != nil {
		return err
	}
	c.etcd = p
	return c.waitFor(ctx, "etcd health", p, probe{url: c.etcdURL() + "/health"}.check)
}
