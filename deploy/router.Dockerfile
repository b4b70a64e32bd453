# syntax=docker/dockerfile:1
# Zenoh router image: zenoh-bridge-remote-api, a Zenoh runtime with the remote-api plugin linked
# in (the WebSocket endpoint zenoh-ts clients and forge-mailbox nodes connect to). Build:
#   docker build -f deploy/router.Dockerfile --build-arg ZENOH_VERSION=1.10.1 -t forge-zenoh-router .
# ZENOH_VERSION must equal the @eclipse-zenoh/zenoh-ts version in package.json: the remote-api
# wire protocol is only guaranteed between a plugin and a zenoh-ts of the same release
# (test/deploy/compose.test.ts enforces the match).

ARG ZENOH_VERSION=1.10.1
# Debian 13 (trixie), the current stable, for both stages (same glibc). Tags, not digests: see the
# update policy in node.Dockerfile.
ARG RUST_IMAGE=rust:1.95-trixie
ARG RUNTIME_IMAGE=debian:trixie-slim

FROM ${RUST_IMAGE} AS build
ARG ZENOH_VERSION
# The build the local cluster and the tests use (scripts/install-zenoh-router.sh): the crates from
# crates.io, checked against its index; the crate's published Cargo.lock with --locked, so the
# dependency set is the one the Zenoh release was tested with rather than whatever semver allows
# today; and scripts/zenoh-router/*.patch applied to the remote-api plugin (TCP_NODELAY on its
# WebSocket connections: build.sh says why).
COPY scripts/zenoh-router/ /build/zenoh-router/
RUN bash /build/zenoh-router/build.sh "${ZENOH_VERSION}" /opt/zenoh

# Same Debian release as the Rust image, so the binary's glibc matches.
FROM ${RUNTIME_IMAGE} AS runtime
ARG ZENOH_VERSION
LABEL org.opencontainers.image.title="zenoh-bridge-remote-api" \
      org.opencontainers.image.version="${ZENOH_VERSION}"
COPY --from=build /opt/zenoh/bin/zenoh-bridge-remote-api /usr/local/bin/zenoh-bridge-remote-api
# curl: the gateway's healthcheck, a WebSocket upgrade over TLS (docker-compose.yml); nothing else.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin zenoh
USER zenoh
# The binary prints its whole configuration (passwords included) at info level under its own
# target: keep that target at warn whatever else RUST_LOG asks for.
ENV RUST_LOG=warn,zenoh_bridge_remote_api=warn
# 7447: Zenoh (other routers, native Zenoh clients); 10000: remote-api WebSocket.
EXPOSE 7447 10000
# A WebSocket handshake on the remote-api port (10000, plain ws://, as the routers in
# docker-compose.yml listen): bash sends the upgrade request, wants 101 and closes cleanly. A bare
# TCP connect would make the router log an ERROR at every probe. The gateway (wss://) overrides it.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 --start-period=10s \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/10000 && printf 'GET / HTTP/1.1\\r\\nHost: 127.0.0.1:10000\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: Zm9yZ2UtcHJvYmUtMDAwMQ==\\r\\n\\r\\n' >&3 && timeout 2 head -c 12 <&3 | grep -qx 'HTTP/1.1 101' && printf '\\x88\\x80\\0\\0\\0\\0' >&3"]
ENTRYPOINT ["/usr/local/bin/zenoh-bridge-remote-api"]
# The configuration (listeners, TLS, usrpwd, access control) comes from a file that
# scripts/make-router-secrets.ts generates; docker-compose.yml mounts it here.
CMD ["--config", "/etc/zenoh/router.json5"]
