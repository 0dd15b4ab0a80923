#!/usr/bin/env bash
# Builds the test control plane from source through the Go module proxy, once,
# into a cache folder: kube-apiserver, kube-controller-manager, kube-scheduler,
# etcd, kwok (with its node and pod stages) and, when none is on PATH, kubectl.
#
#   hack/testbin.sh DIR
#
# DIR/ready is written last, so an interrupted build is redone next time.
set -euo pipefail

dir=${1:?usage: hack/testbin.sh DIR}
k8s_version=${KUBERNETES_VERSION:-v1.37.2}
etcd_version=${ETCD_VERSION:-v3.7.3}
kwok_version=${KWOK_VERSION:-v0.8.0}

if [ -f "$dir/ready" ]; then
	exit 0
fi
mkdir -p "$dir/bin" "$dir/stages"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

start=$SECONDS
log() { printf 'testbin: [%dm%02ds] %s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$*" >&2; }

# progress reads `go build -v` output: it counts the package lines and says
# how many were compiled every 200, and passes every other line (an error)
# through, so a long cold build shows that it is moving.
progress() {
	awk -v what="$1" -v start="$start" '
		/^[^ #][^ ]*$/ { n++; if (n % 200 == 0) { printf "testbin:   %s: %d packages compiled\n", what, n; fflush() } ; next }
		{ print; fflush() }
		END { if (n > 0) printf "testbin:   %s: %d packages compiled\n", what, n }' >&2
}

# gobuild is go build -v with its package lines counted by progress.
gobuild() {
	local what=$1
	shift
	go build -v "$@" 2>&1 | progress "$what"
}

# Kubernetes: require k8s.io/kubernetes and replace its staging modules with
# their published versions (v1.Y.Z -> v0.Y.Z).
log "once, into $dir; about 12 minutes on 2 cores with empty caches, most of it kube-apiserver"
log "1/4 downloading Kubernetes $k8s_version's modules"
mkdir -p "$work/k8s"
cd "$work/k8s"
go mod init testbin/k8s >/dev/null 2>&1
go mod download -json "k8s.io/kubernetes@$k8s_version" >"$work/k8s.json"
gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' "$work/k8s.json")
staging_version="v0.${k8s_version#v1.}"
{
	echo "require k8s.io/kubernetes $k8s_version"
	sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*|replace \1 => \1 '"$staging_version"'|p' "$gomod"
} >>go.mod
cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
go mod tidy >/dev/null 2>&1 || go mod tidy
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${staging_version#v0.}"
note=" (the longest step: it compiles what the others share)"
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
	log "2/4 building $cmd$note"
	note=""
	gobuild "$cmd" -trimpath -ldflags "$ldflags" -o "$dir/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
if ! command -v kubectl >/dev/null 2>&1; then
	log "2/4 no kubectl on PATH: building one"
	gobuild kubectl -trimpath -ldflags "$ldflags" -o "$dir/bin/kubectl" k8s.io/kubernetes/cmd/kubectl
fi

log "3/4 building etcd $etcd_version"
mkdir -p "$work/etcd"
cd "$work/etcd"
go mod init testbin/etcd >/dev/null 2>&1
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
go get "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null 2>&1
go mod tidy >/dev/null 2>&1 || go mod tidy
gobuild etcd -trimpath -ldflags "-s -w" -o "$dir/bin/etcd" go.etcd.io/etcd/server/v3

log "4/4 building kwok $kwok_version"
GOBIN="$dir/bin" go install -v -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$kwok_version" 2>&1 | progress kwok
kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$kwok_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
for stage in node/fast pod/fast; do
	for f in "$kwok_dir/kustomize/stage/$stage"/*.yaml; do
		case "$(basename "$f")" in kustomization.yaml) continue ;; esac
		cp "$f" "$dir/stages/${stage%%/*}-$(basename "$f")"
	done
done
chmod -R u+w "$dir"

echo "kubernetes=$k8s_version etcd=$etcd_version kwok=$kwok_version" >"$dir/ready"
log "ready in $dir"
