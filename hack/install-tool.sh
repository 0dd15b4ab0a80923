#!/usr/bin/env bash
# Installs a Go tool at a pinned version into a cache path of its own.
#
#   hack/install-tool.sh DEST PACKAGE@VERSION
set -euo pipefail
dest=${1:?usage: hack/install-tool.sh DEST PACKAGE@VERSION}
pkg=${2:?usage: hack/install-tool.sh DEST PACKAGE@VERSION}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOTOOLCHAIN=local GOFLAGS= GOBIN="$tmp" go install "$pkg"
mkdir -p "$(dirname "$dest")"
mv "$tmp/$(basename "${pkg%@*}")" "$dest"
