# syntax=docker/dockerfile:1
#
# One image recipe for all five Trellis services, chosen with the build arg SERVICE:
#
#   docker build --build-arg SERVICE=auth -t trellis-auth .
#   docker run --init --env-file .env -e NATS_URL=nats://... trellis-auth
#
# Why a build arg instead of a target per service: the five images differ only in the service they
# start, their health check (HTTP for the gateway, a NATS request for the backends) and ffmpeg
# (analysis only). Those differences live in the small `svc-<name>` stages below; the final stage
# starts FROM `svc-${SERVICE}`, so one set of COPY/USER/CMD lines serves all five, BuildKit builds
# only the stages the chosen service needs, and an unknown SERVICE fails at that FROM line.
# (The `svc-*` stages are not meant as --target values: they hold no application code.)
#
# There is no build step: Node 24 runs the TypeScript sources directly (type stripping), from the
# repository layout at /app, so the workspace symlinks npm creates (node_modules/@trellis/* ->
# ../../packages/*, ../../services/*) resolve inside the image exactly as in a checkout.
#
# Needs BuildKit (default in current Docker and in docker compose) for the npm cache mount.

# Global: used by the final FROM. Defaults to the gateway so a plain `docker build .` works.
ARG SERVICE=gateway
# The Node base: the official image. Where none can be pulled (this project's CI), the compose
# check builds an equivalent locally (scripts/build-images.sh node: Debian 12 + Node 24 + npm) and
# passes NODE_IMAGE=localhost/trellis-node:24 (deploy/compose.podman.yml).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# ---------------------------------------------------------------------------------------------
# Every workspace's package.json (and nothing else), at its path, for `npm ci`. Gathered with
# find instead of listing each file so a new workspace needs no Dockerfile change. This stage
# re-runs on any source change, but its output only changes with a manifest, so the COPY --from
# in `deps` (checksummed by content) and the npm ci after it stay cached.
FROM base AS manifests
COPY packages ./packages
COPY services ./services
RUN mkdir /manifests \
 && find packages services -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /manifests/ \;

# ---------------------------------------------------------------------------------------------
# Production dependencies for the whole monorepo (npm ci installs workspaces from the root
# lockfile; --omit=dev drops root and workspace devDependencies). --ignore-scripts: the image has
# no compiler toolchain, and native modules must ship prebuilt binaries that load at runtime
# (argon2 does, via node-gyp-build), so no install script is needed; this also makes the result
# independent of the npm version's policy on unapproved install scripts. A dependency that must
# compile would need build-essential + python3 here and the flag dropped.
FROM base AS deps
COPY package.json package-lock.json ./
COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --omit=dev --ignore-scripts

# ---------------------------------------------------------------------------------------------
# The web console (packages/console), built by Vite: its dependencies are devDependencies (they are
# bundled into dist/), so this stage installs them, builds, and only dist/ goes into the images.
FROM base AS console
COPY package.json package-lock.json ./
COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --include=dev --ignore-scripts
COPY packages/console ./packages/console
# The contracts' zod-free constants, which the console imports (packages/console/build.ts lists its inputs).
COPY packages/contracts/src/telemetry-constants.ts ./packages/contracts/src/telemetry-constants.ts
RUN rm -rf packages/console/dist && node packages/console/build.ts --force

# ---------------------------------------------------------------------------------------------
# Per-service runtime bases: what differs between the images apart from the code they start.

# Health checks poll every 15 s; docker-compose.yml adds `start_interval: 2s` (checks every 2 s
# while starting, Docker Engine 25+). Not here: Podman's builder (buildah 1.28) refuses the flag.
#
# Backend services have no HTTP port; healthy means an instance answers `<service>.v1.health`
# over NATS (scripts/healthcheck.ts, using NATS_URL). Shell form so $SERVICE (set in the final
# stage) expands when the check runs; `|| exit 1` maps any failure to Docker's "unhealthy" code.
FROM base AS backend
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
    CMD node scripts/healthcheck.ts "$SERVICE" || exit 1

FROM backend AS svc-auth
FROM backend AS svc-telemetry
FROM backend AS svc-media

# analysis runs ffmpeg, and yt-dlp (PyPI, the version scripts/install-deps.sh pins, in a venv) for
# URL analyses. Installed before the code is copied, so code changes do not re-run apt or pip.
FROM backend AS svc-analysis
ARG YTDLP_VERSION=2026.10.26
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/yt-dlp \
 && /opt/yt-dlp/bin/pip install --no-cache-dir --disable-pip-version-check "yt-dlp==$YTDLP_VERSION"
ENV YTDLP_PATH=/opt/yt-dlp/bin/yt-dlp

# Gateway: liveness over HTTP. No curl/wget in the slim image, so Node's fetch does it.
FROM base AS svc-gateway
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# ---------------------------------------------------------------------------------------------
FROM svc-${SERVICE} AS final
ARG SERVICE
ENV SERVICE=${SERVICE}

# Everything from `deps`: root manifests, workspace manifests (so every node_modules/@trellis/*
# symlink has a target) and node_modules, including any nested packages/*/node_modules npm made.
COPY --from=deps /app ./
# The code: shared packages, this service only, and the health-check script. Owned by root and
# read-only for the `node` user that runs it.
COPY packages ./packages
COPY services/${SERVICE} ./services/${SERVICE}
COPY scripts/healthcheck.ts ./scripts/healthcheck.ts
# The built console the gateway serves at /console/ (a few hundred KB; the other services ignore it).
COPY --from=console /app/packages/console/dist ./packages/console/dist
RUN test -f "services/${SERVICE}/src/main.ts" \
 || { echo "services/${SERVICE}/src/main.ts not found" >&2; exit 1; }

USER node
STOPSIGNAL SIGTERM
# `exec` replaces the shell, so node gets SIGTERM directly: it is PID 1 under a plain
# `docker run`, or the child of Docker's init (tini) with `docker run --init` / compose
# `init: true` (used in docker-compose.yml; recommended, it also reaps stray ffmpeg children).
# Node as PID 1 is fine for signals because the services install their own SIGTERM/SIGINT
# handlers (graceful drain, then exit 128+signal).
# --import: the tracing preload (packages/runtime/src/tracing-preload.ts) must run before the
# service's modules load; with OTEL_EXPORTER_OTLP_ENDPOINT unset it loads nothing.
CMD ["sh", "-c", "exec node --import ./packages/runtime/src/tracing-preload.ts \"services/$SERVICE/src/main.ts\""]
