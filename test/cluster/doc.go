// Package cluster runs a real Kubernetes control plane on loopback ports for
// tests: etcd and kube-apiserver, and optionally kube-controller-manager,
// kube-scheduler and kwok with one fake Node, so that workloads such as
// Deployments roll out without any kubelet or container runtime.
//
// The binaries come from a testbin directory built by hack/testbin.sh
// ("make testbin"); tests find it through the KUBECTL_GITOPS_TESTBIN
// environment variable, which "make test" sets. The layout is:
//
//	DIR/bin/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kwok}
//	DIR/stages/*.yaml   kwok Stage files (node and pod "fast" stages)
//
// Every component runs in its own process group, and on Linux it is killed
// if the process that started it dies, so no process outlives the test
// binary. Cluster.Stop terminates all process groups (SIGTERM, then SIGKILL)
// and removes the temporary working directory.
//
// The admin identity is a static bearer token in the system:masters group,
// and clients verify the API server's self-signed serving certificate.
package cluster
