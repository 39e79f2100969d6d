#!/usr/bin/env bash
# Builds a Go command once and caches it by version under $TRELLIS_CACHE/bin (default
# ~/.cache/trellis/bin): a static build (CGO off, so the same binary also goes into FROM-scratch
# container images) named NAME-VERSION, with NAME linked to it. A warm run only relinks. Prints the
# binary's path on stdout; what it says goes to stderr.
#   bash scripts/go-tool.sh NAME PACKAGE VERSION
# NAME is the command's binary (what `go install` names it), PACKAGE its Go package path without
# @VERSION, e.g. `bash scripts/go-tool.sh helm helm.sh/helm/v3/cmd/helm v3.22.1`.
set -euo pipefail
[ $# -eq 3 ] || { printf 'usage: %s NAME PACKAGE VERSION\n' "$0" >&2; exit 2; }
name=$1 package=$2 version=$3
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
bin="$cache/bin"
mkdir -p "$bin"
if [ ! -x "$bin/$name-$version" ]; then
  printf 'go-tool: building %s %s from its Go module (%s)\n' "$name" "$version" "$package" >&2
  tmp=$(mktemp -d "$bin/.tmp-$name.XXXXXX")
  (cd "$cache" && CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath "$package@$version")
  mv "$tmp/$name" "$bin/$name-$version" && rmdir "$tmp"
fi
ln -sf "$name-$version" "$bin/$name"
echo "$bin/$name-$version"
