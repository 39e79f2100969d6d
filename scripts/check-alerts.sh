#!/usr/bin/env bash
# `npm run test:alerts`: `promtool check rules` on deploy/prometheus/alerts.yml and `promtool check
# config` on deploy/prometheus/prometheus.yml, with promtool built from Prometheus's Go module and
# cached under $TRELLIS_CACHE/bin (like scripts/install-deps.sh). A cold build compiles every
# service-discovery client Prometheus has (cloud SDKs): ~55 min on this loaded 2-vCPU machine, then
# nothing. (That every metric the rules and the dashboard name is served is tests/metrics.int.test.ts.)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
PROMETHEUS_VERSION=v0.316.0
bin="$cache/bin"
mkdir -p "$bin"
if [ ! -x "$bin/promtool-$PROMETHEUS_VERSION" ]; then
  printf 'test:alerts: building promtool (prometheus %s) from its Go module\n' "$PROMETHEUS_VERSION" >&2
  tmp=$(mktemp -d "$bin/.tmp-promtool.XXXXXX")
  (cd "$cache" && CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION")
  mv "$tmp/promtool" "$bin/promtool-$PROMETHEUS_VERSION" && rmdir "$tmp"
fi
ln -sf "promtool-$PROMETHEUS_VERSION" "$bin/promtool"
"$bin/promtool" check rules deploy/prometheus/alerts.yml >&2
"$bin/promtool" check config deploy/prometheus/prometheus.yml >&2
