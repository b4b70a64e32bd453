#!/usr/bin/env bash
# Makes the Zenoh router with the remote-api plugin linked in (zenoh-bridge-remote-api) available
# at the version of the npm @eclipse-zenoh/zenoh-ts we depend on (the remote-api wire protocol is
# only guaranteed between a plugin and a zenoh-ts of the same release), and prints its path.
# Where it comes from, first found wins:
#   1. $FORGE_ZENOH_ROUTER_BIN, a binary the user already has (it must report the version);
#   2. a zenoh-bridge-remote-api on PATH that reports the version (upstream's apt repository,
#      GitHub release archives, Homebrew): linked into the cache, where the nodes look for it;
#   3. the cache, ~/.cache/forge-mailbox/zenoh/<version>/bin (a build from an earlier run, with
#      the patches scripts/zenoh-router/build.sh applies today; an older build is rebuilt);
#   4. a build from crates.io with scripts/zenoh-router/build.sh, into the cache (minutes): the
#      published Cargo.lock, and two patches to the remote-api plugin (TCP_NODELAY on its WebSocket
#      connections, and room for more than 1000 unanswered queries per session; build.sh says
#      why). A binary from 1 or 2 lacks them unless it was built the same way: it works, with up
#      to 40 ms more on some replies, and with requests dropped unanswered when more than 1000 are
#      in flight towards one node at once.
# One crate, one build: the bridge links the remote-api plugin statically, so there is no
# separate zenohd + plugin pair to build (and keep ABI-compatible).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/zenoh-version.sh"
cache_root="${FORGE_ZENOH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/forge-mailbox/zenoh}"
prefix="$cache_root/$version"
bin="$prefix/bin/zenoh-bridge-remote-api"

# True when the binary runs and says it is this version ("zenoh bridge for Remote API v1.10.1").
reports_version() {
  "$1" --version 2>/dev/null | grep -qE "Remote API v${version//./\\.}(\$|[^0-9.])"
}

if [ -n "${FORGE_ZENOH_ROUTER_BIN:-}" ]; then
  if ! reports_version "$FORGE_ZENOH_ROUTER_BIN"; then
    echo "FORGE_ZENOH_ROUTER_BIN=$FORGE_ZENOH_ROUTER_BIN is not zenoh-bridge-remote-api $version (\`--version\` says: $("$FORGE_ZENOH_ROUTER_BIN" --version 2>&1 | tail -n 1))" >&2
    exit 1
  fi
  echo "zenoh-bridge-remote-api $version from FORGE_ZENOH_ROUTER_BIN: $FORGE_ZENOH_ROUTER_BIN" >&2
  echo "$FORGE_ZENOH_ROUTER_BIN"
  exit 0
fi

# The patches a build in the cache must hold: build.sh applies every scripts/zenoh-router/*.patch
# and names them in PATCHES beside bin/.
wanted_patches="$(cd "$here/scripts/zenoh-router" && shopt -s nullglob && for f in *.patch; do echo "${f%.patch}"; done)"
if [ -x "$bin" ] && reports_version "$bin"; then
  # A link is a binary found on PATH earlier (used as it is); a file is our build.
  if [ -L "$bin" ] || [ "$(cat "$prefix/PATCHES" 2>/dev/null)" = "$wanted_patches" ]; then
    echo "zenoh-bridge-remote-api $version already installed: $bin" >&2
    echo "$bin"
    exit 0
  fi
  echo "the build in $prefix lacks the patches of scripts/zenoh-router/ ($(echo $wanted_patches)): not reused" >&2
fi

on_path="$(command -v zenoh-bridge-remote-api || true)"
if [ -n "$on_path" ] && reports_version "$on_path"; then
  mkdir -p "$prefix/bin"
  ln -sf "$(readlink -f "$on_path")" "$bin"
  echo "zenoh-bridge-remote-api $version found on PATH ($on_path), linked at $bin" >&2
  echo "$bin"
  exit 0
fi
[ -n "$on_path" ] && echo "ignoring $on_path: not version $version" >&2

command -v cargo >/dev/null || {
  echo "no zenoh-bridge-remote-api $version found (FORGE_ZENOH_ROUTER_BIN, PATH, $bin) and cargo, to build one, is missing" >&2
  exit 1
}
mkdir -p "$prefix"
echo "building zenoh-bridge-remote-api $version from crates.io (with scripts/zenoh-router/*.patch) into $prefix: about 6 minutes on a quiet 2-core machine, 12 on a busy one (once; cached afterwards)." >&2
echo "To skip the build, set FORGE_ZENOH_ROUTER_BIN to a zenoh-bridge-remote-api $version you have, or put one on PATH (see README)." >&2
start=$(date +%s)
rm -f "$prefix/PATCHES"
bash "$here/scripts/zenoh-router/build.sh" "$version" "$prefix"
echo "built in $(( $(date +%s) - start ))s: $bin" >&2
echo "$bin"
