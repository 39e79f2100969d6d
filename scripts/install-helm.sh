#!/usr/bin/env bash
# Installs helm (for the chart checks, `npm run test:helm`) built from its Go module, cached under
# $TRELLIS_CACHE/bin (default ~/.cache/trellis/bin) by version (scripts/go-tool.sh).
# A cold build downloads and compiles Kubernetes' client libraries: several minutes.
# Prints the binary's path.
set -euo pipefail
HELM_VERSION=v3.22.1
exec bash "$(dirname "$0")/go-tool.sh" helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
