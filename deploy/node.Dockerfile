# syntax=docker/dockerfile:1
# forge-mailbox node image. Build from the repository root:
#   docker build -f deploy/node.Dockerfile -t forge-mailbox .
# Three stages so the runtime image holds only the compiled JavaScript, the launcher and the
# production dependencies: no TypeScript, no dev dependencies, no build toolchain.

# Node 26, the Active LTS, on Debian 13 (trixie), the current stable. Update policy: tags name the
# Node major and the Debian release, not a digest (nothing here can reach a registry to resolve
# one); rebuild with --pull at every Node security release and monthly, and move the major when
# the next even Node line becomes Active LTS. Pin a digest (node:26-trixie-slim@sha256:…) in your
# own build for reproducible images. zenoh-ts imports a .wasm module, which Node 26 loads as is;
# the launcher still passes --experimental-wasm-modules for Node 20, harmlessly here.
ARG NODE_IMAGE=node:26-trixie-slim
ARG NODE_BUILD_IMAGE=node:26-trixie

FROM ${NODE_BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# A separate install with --omit=dev: pruning the build stage's node_modules could keep files
# that dev-only install scripts left behind. The full image has the compilers node-gyp falls
# back to if a native dependency (classic-level) has no prebuilt binary for the platform.
FROM ${NODE_BUILD_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# jemalloc, which bin/forge-mailbox preloads when present: glibc's malloc held 80-140 MiB more per
# node at 3,000,000 queued messages (src/node/node-allocator.ts says why).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
# The data directory exists in the image, owned by the runtime user, so a named volume mounted
# there starts out writable by that user (Docker copies the ownership into a new volume). It is
# also writable (sticky, like /tmp) by the uid docker-compose.yml runs the node as, the owner of
# the mounted secrets, whatever it is; the node keeps its LevelDB in a subdirectory of its own.
RUN chmod 0755 /app/bin/forge-mailbox \
 && mkdir -p /var/lib/forge-mailbox /etc/forge-mailbox \
 && chown node:node /var/lib/forge-mailbox \
 && chmod 1777 /var/lib/forge-mailbox
# The official image's unprivileged "node" user (uid 1000).
USER node
VOLUME ["/var/lib/forge-mailbox"]
# Raft peer port used by deploy/config/*.json; peers reach it over the compose network only.
EXPOSE 7000
# Liveness on the operator port (metrics.port in the config; deploy/config/*.json use 9464, set
# FORGE_HEALTH_PORT when yours differs): fails only when the Raft loop halted or stopped, never
# during an election. The global fetch of Node: no curl in the image, no Zenoh session per probe.
ENV FORGE_HEALTH_PORT=9464
HEALTHCHECK --interval=15s --timeout=5s --retries=3 --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.FORGE_HEALTH_PORT + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/bin/forge-mailbox"]
CMD ["serve", "--config", "/etc/forge-mailbox/config.json"]
