#!/usr/bin/env bash
# `npm run test:contract`: checks that the API answers as its OpenAPI document says, with
# schemathesis (PyPI) against a whole stack of its own (scripts/contract-test.ts does the rest).
# Schemathesis is installed into a venv of its own under $TRELLIS_CACHE, keyed by version, like
# yt-dlp in install-deps.sh; the `.installed` marker is written last, so an interrupted install
# is redone on the next run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${TRELLIS_CACHE:-$HOME/.cache/trellis}
SCHEMATHESIS_VERSION=4.32.5

bash "$root/scripts/install-deps.sh"

venv="$cache/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -f "$venv/.installed" ]; then
  printf 'contract: installing schemathesis %s from PyPI\n' "$SCHEMATHESIS_VERSION" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "schemathesis==$SCHEMATHESIS_VERSION" >&2
  "$venv/bin/st" --version >/dev/null
  touch "$venv/.installed"
fi

export SCHEMATHESIS_BIN="$venv/bin/st"
exec sh "$root/scripts/node24.sh" "$root/scripts/contract-test.ts" "$@"
