#!/usr/bin/env bash
# Runs a Podman service that speaks the Docker API, for Testcontainers on machines without Docker.
#
#   scripts/podman.sh start <dir>   configure Podman for this VM, start `podman system service` on
#                                   unix://<dir>/podman.sock (pid in <dir>/podman.pid, log in
#                                   <dir>/podman.log) and wait until it answers GET /_ping
#   scripts/podman.sh stop <dir>    remove all containers, stop the service and wait for it to exit
#   scripts/podman.sh configure     only the configuration for this VM (runc, no default ulimits),
#                                   for the podman CLI alone (scripts/compose-check.sh)
#
# Quiet on success (stdout stays empty); errors go to stderr. Needs root (it edits
# /etc/containers/containers.conf) and `apt-get install -y podman runc`.
# Callers then set DOCKER_HOST=unix://<dir>/podman.sock, TESTCONTAINERS_RYUK_DISABLED=true and
# TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1.
set -euo pipefail

CONF=${CONTAINERS_CONF_PATH:-/etc/containers/containers.conf}
START_TIMEOUT=30 # seconds to wait for /_ping
STOP_TIMEOUT=15  # seconds to wait for the service to exit before SIGKILL

die() { printf 'podman.sh: %s\n' "$*" >&2; exit 1; }

usage() { die "usage: $0 start|stop <dir> | configure"; }

# set_toml_key FILE SECTION KEY VALUE: prints FILE with KEY = VALUE set in [SECTION]. An existing
# KEY in that section is replaced in place (a multi-line array value is dropped whole); a missing
# KEY is added at the end of the section; a missing section is appended. Everything else is kept.
set_toml_key() {
  awk -v sec="$2" -v key="$3" -v val="$4" '
    function add_if_missing() { if (insec && !done) { print key " = " val; done = 1 } }
    skipping { if ($0 ~ /\]/) skipping = 0; next }
    /^[ \t]*\[/ {
      add_if_missing()
      h = $0; sub(/[ \t]*(#.*)?$/, "", h); sub(/^[ \t]*/, "", h)
      insec = (h == "[" sec "]")
      if (insec) seen = 1
      print; next
    }
    insec && $0 ~ ("^[ \t]*\"?" key "\"?[ \t]*=") {
      if (!done) { print key " = " val; done = 1 }
      rest = $0; sub(/^[^=]*=[ \t]*/, "", rest); sub(/[ \t]*#.*$/, "", rest)
      if (rest ~ /^\[/ && rest !~ /\]$/) skipping = 1
      next
    }
    { print }
    END {
      add_if_missing()
      if (!seen) { if (NR > 0) print ""; print "[" sec "]"; print key " = " val }
    }
  ' "$1"
}

configure() {
  # crun fails on this VM ("setrlimit RLIMIT_NOFILE", "cgroups in hybrid mode not supported"):
  # use runc and do not set default ulimits in containers.
  local cur new
  if [ -f "$CONF" ]; then cur=$(cat "$CONF"); else cur=; fi
  new=$(printf '%s' "$cur" | set_toml_key /dev/stdin containers default_ulimits '[]' |
    set_toml_key /dev/stdin engine runtime '"runc"')
  [ "$new" = "$cur" ] && return 0
  mkdir -p "$(dirname "$CONF")" || die "cannot create $(dirname "$CONF") (run as root)"
  printf '%s\n' "$new" >"$CONF.tmp.$$" || die "cannot write $CONF (run as root)"
  if [ -f "$CONF" ]; then chmod --reference="$CONF" "$CONF.tmp.$$" 2>/dev/null || true; fi
  mv -f "$CONF.tmp.$$" "$CONF"
}

ping() { curl -fsS --max-time 2 --unix-socket "$1" http://d/_ping 2>/dev/null | grep -qx OK; }

# Prints the pid from <dir>/podman.pid if that process is alive and is a podman service.
service_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'podman.*system service' || return 1
  echo "$pid"
}

start() {
  local dir=$1 sock=$1/podman.sock pidf=$1/podman.pid log=$1/podman.log pid i
  command -v podman >/dev/null || die "podman is not installed (apt-get install -y podman runc)"
  command -v curl >/dev/null || die "curl is not installed"
  mkdir -p "$dir"
  configure
  if pid=$(service_pid "$pidf") && ping "$sock"; then return 0; fi # already running
  [ -n "${pid:-}" ] && stop_service "$pidf"
  rm -f "$sock" "$pidf"
  # setsid + no inherited fds: the service outlives this script and never holds the caller's
  # stdout open (so `$(scripts/podman.sh start ...)` and CI log pipes do not hang).
  setsid podman system service --time=0 "unix://$sock" </dev/null >"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$pidf"
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    ping "$sock" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidf"
      tail -n 20 "$log" >&2 || true
      die "podman system service exited (log: $log)"
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2 || true
  stop_service "$pidf"
  die "podman service on $sock did not answer /_ping within ${START_TIMEOUT}s (log: $log)"
}

stop_service() {
  local pidf=$1 pid i
  if pid=$(service_pid "$pidf"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$pidf"
}

stop() {
  local dir=$1
  if command -v podman >/dev/null; then
    # Without Ryuk nothing else cleans up test containers.
    podman rm -af -t 2 >/dev/null 2>&1 || podman rm -af -t 2 >/dev/null || true
  fi
  stop_service "$dir/podman.pid"
  rm -f "$dir/podman.sock"
}

if [ "${1:-}" = configure ] && [ $# -eq 1 ]; then
  configure
  exit 0
fi
[ $# -eq 2 ] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
