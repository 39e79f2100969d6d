#!/usr/bin/env bash
# `npm run test:alerts`: `promtool check rules` on deploy/prometheus/alerts.yml and `promtool check
# config` on deploy/prometheus/prometheus.yml, with promtool built from Prometheus's Go module and
# cached under $TRELLIS_CACHE/bin by version (scripts/go-tool.sh). A cold build compiles every
# service-discovery client Prometheus has (cloud SDKs): ~55 min on this loaded 2-vCPU machine, then
# nothing. (That every metric the rules and the dashboard name is served is tests/metrics.int.test.ts.)
set -euo pipefail
cd "$(dirname "$0")/.."
PROMETHEUS_VERSION=v0.316.0
promtool=$(bash scripts/go-tool.sh promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION")
"$promtool" check rules deploy/prometheus/alerts.yml >&2
"$promtool" check config deploy/prometheus/prometheus.yml >&2
