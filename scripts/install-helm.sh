#!/usr/bin/env bash
# Installs helm (for the chart checks, `npm run test:helm`) built from its Go module, cached under
# $TRELLIS_CACHE/bin (default ~/.cache/trellis/bin) by version like scripts/install-deps.sh does.
# A cold build downloads and compiles Kubernetes' client libraries: several minutes.
# Prints the binary's path.
set -euo pipefail
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
HELM_VERSION=v3.22.1
bin="$cache/bin"
mkdir -p "$bin"
if [ ! -x "$bin/helm-$HELM_VERSION" ]; then
  printf 'install-helm: building helm %s from its Go module\n' "$HELM_VERSION" >&2
  tmp=$(mktemp -d "$bin/.tmp-helm.XXXXXX")
  (cd "$cache" && CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  mv "$tmp/helm" "$bin/helm-$HELM_VERSION" && rmdir "$tmp"
fi
ln -sf "helm-$HELM_VERSION" "$bin/helm"
echo "$bin/helm-$HELM_VERSION"
