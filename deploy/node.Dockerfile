# syntax=docker/dockerfile:1
# forge-mailbox node image. Build from the repository root:
#   docker build -f deploy/node.Dockerfile -t forge-mailbox .
# Three stages so the runtime image holds only the compiled JavaScript, the launcher and the
# production dependencies: no TypeScript, no dev dependencies, no build toolchain.

# Node 22 is an LTS line that still needs (and accepts) --experimental-wasm-modules, which the
# launcher passes because zenoh-ts imports a .wasm module.
ARG NODE_IMAGE=node:22-bookworm-slim
ARG NODE_BUILD_IMAGE=node:22-bookworm

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
ENTRYPOINT ["/app/bin/forge-mailbox"]
CMD ["serve", "--config", "/etc/forge-mailbox/config.json"]
