#!/usr/bin/env bash
# make demo: start a throwaway local cluster, sync a sample repository into
# it, show the status, change the repository and sync again, then stop the
# cluster. Leaves no process behind.
#
#   hack/demo.sh bin/kubectl-gitops
set -euo pipefail

plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
cluster_pid=""

cleanup() {
	if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
		echo "==> stopping the cluster"
		kill -TERM "$cluster_pid"
		wait "$cluster_pid" || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "starting a throwaway control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
go build -o "$work/testcluster" "$top/test/cluster/cmd/testcluster"
"$work/testcluster" --controllers --kubeconfig-out "$work/kubeconfig" >"$work/cluster.out" 2>"$work/cluster.log" &
cluster_pid=$!
for _ in $(seq 1 120); do
	grep -q ready "$work/cluster.out" 2>/dev/null && break
	if ! kill -0 "$cluster_pid" 2>/dev/null; then
		cat "$work/cluster.log" >&2
		echo "the cluster did not start" >&2
		exit 1
	fi
	sleep 1
done
grep -q ready "$work/cluster.out" || { echo "the cluster did not become ready in 2 minutes" >&2; exit 1; }

# The plugin is found by kubectl on PATH, like after `make install`.
mkdir -p "$work/bin"
ln -s "$plugin" "$work/bin/kubectl-gitops"
export PATH="$work/bin:$PATH" KUBECONFIG="$work/kubeconfig" HOME="$work"
if ! command -v kubectl >/dev/null 2>&1; then
	ln -s "$KUBECTL_GITOPS_TESTBIN/bin/kubectl" "$work/bin/kubectl"
fi
git config --global user.name "Demo" && git config --global user.email demo@example.com
git config --global init.defaultBranch main

step "a sample repository"
cp -r "$top/testdata/demo" "$work/repo"
git -C "$work/repo" init -q && git -C "$work/repo" add . && git -C "$work/repo" commit -qm "Demo app"
(cd "$work/repo" && find . -path ./.git -prune -o -type f -print | sort)

run kubectl gitops version

step "what would a sync do? (exit 1: there are changes)"
run kubectl gitops diff --name demo --repo "$work/repo" --path deploy >/dev/null && status=0 || status=$?
echo "kubectl gitops diff exited $status"
[ "$status" = 1 ]

step "sync, waiting for the rollout"
run kubectl gitops sync --name demo --repo "$work/repo" --path deploy --wait --timeout 2m

step "status"
run kubectl gitops status --name demo
run kubectl get deployments,services,configmaps -n demo

step "a commit scales the Deployment and removes a ConfigMap"
sed -i 's/replicas: 2/replicas: 3/' "$work/repo/deploy/app/web.yaml"
python3 - "$work/repo/deploy/app/config.yaml" <<'PY' 2>/dev/null || sed -i '/^---$/,$d' "$work/repo/deploy/app/config.yaml"
import sys
p = sys.argv[1]
s = open(p).read()
open(p, "w").write(s.split("\n---\n")[0] + "\n")
PY
git -C "$work/repo" commit -qam "Scale web to 3, drop the feature flags"
run kubectl gitops diff --name demo || true

step "sync again: the source comes from the set's record"
run kubectl gitops sync --name demo --wait --timeout 2m
run kubectl get deployments,configmaps -n demo

step "drift: a hand edit is put back by the next sync"
run kubectl scale deployment web -n demo --replicas=1
run kubectl gitops sync --name demo --force-conflicts --wait --timeout 2m
run kubectl get deployment web -n demo

step "workload policy lives in git: lock, list, unlock"
run kubectl gitops workloads --name demo -A
run kubectl gitops lock demo:deployment/web --name demo -m "hold for the demo"
git -C "$work/repo" log --oneline -1
run kubectl gitops workloads --name demo -A
run kubectl gitops unlock demo:deployment/web --name demo
git -C "$work/repo" diff --quiet HEAD~2 HEAD && echo "lock then unlock: the manifest is byte for byte what it was"

step "done"
