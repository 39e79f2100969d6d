#!/usr/bin/env bash
# `npm run test:helm`: the Helm chart's checks with a real helm (built from its Go module, cached):
# lint and render it with the default values and with a production-like file, with and without
# the Prometheus operator's API, and make sure values.schema.json refuses bad values. The rendered
# manifests' content (probes, resources, security, env) is checked by tests/helm.int.test.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
helm=$(bash scripts/install-helm.sh)
chart=deploy/helm/trellis
prod=$chart/values-production.yaml
# helm built from source reports Kubernetes 1.20 by default; the chart needs >= 1.25.
kube=(--kube-version 1.31.0)
say() { printf 'test:helm: %s\n' "$*" >&2; }

"$helm" lint --strict "${kube[@]}" "$chart" >&2
"$helm" lint --strict "${kube[@]}" "$chart" -f "$prod" >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$helm" template trellis "$chart" "${kube[@]}" >"$out/default.yaml"
"$helm" template trellis "$chart" "${kube[@]}" -f "$prod" --api-versions monitoring.coreos.com/v1 >"$out/production.yaml"
for f in default production; do
  say "$f: $(grep -c '^kind:' "$out/$f.yaml") objects ($(grep '^kind:' "$out/$f.yaml" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}'))"
done
grep -q '^kind: ServiceMonitor' "$out/default.yaml" && { say "ServiceMonitor rendered without the operator's API"; exit 1; }
grep -q '^kind: ServiceMonitor' "$out/production.yaml" || { say "no ServiceMonitor with the operator's API"; exit 1; }

# values.schema.json must refuse these.
refuse() {
  local why=$1
  shift
  if "$helm" template trellis "$chart" "${kube[@]}" "$@" >/dev/null 2>"$out/err"; then
    say "accepted $why ($*)"
    exit 1
  fi
  grep -q 'values don.t meet the specifications of the schema' "$out/err" || { cat "$out/err" >&2; exit 1; }
}
refuse "zero replicas" --set gateway.replicas=0
refuse "metrics on the gateway's port" --set metrics.port=8080
refuse "a root pod" --set podSecurityContext.runAsNonRoot=false
refuse "no MongoDB secret" --set mongodb.existingSecret=
refuse "sentinel without sentinels" --set redis.sentinel.enabled=true
refuse "an unknown service setting" --set media.replica=3
refuse "resources without limits" --set auth.resources.limits=null
say "lint, template and schema checks passed"
