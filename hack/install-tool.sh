#!/usr/bin/env bash
# Installs a Go tool at a pinned version into a cache path of its own.
#
#   hack/install-tool.sh DEST PACKAGE@VERSION
#
# go install names the binary after the package path's last element, or the
# one before it for a major-version suffix (".../goreleaser/v2" gives
# "goreleaser"); rather than guess, the one file it writes into an empty
# folder is taken, whatever its name.
set -euo pipefail
dest=${1:?usage: hack/install-tool.sh DEST PACKAGE@VERSION}
pkg=${2:?usage: hack/install-tool.sh DEST PACKAGE@VERSION}
case "$pkg" in
*@*) ;;
*) echo "install-tool: $pkg has no @VERSION: pin every tool" >&2; exit 2 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
echo "install-tool: building $pkg (cold: a few minutes)" >&2
GOTOOLCHAIN=local GOFLAGS= GOBIN="$tmp" go install "$pkg"
shopt -s nullglob
built=("$tmp"/*)
if [ ${#built[@]} -ne 1 ]; then
	echo "install-tool: go install $pkg wrote ${#built[@]} files into $tmp, want exactly 1" >&2
	exit 1
fi
mkdir -p "$(dirname "$dest")"
mv "${built[0]}" "$dest"
echo "install-tool: $dest ($((SECONDS - start))s)" >&2
