#!/usr/bin/env bash
# Builds the Zenoh router with the remote-api plugin linked in (zenoh-bridge-remote-api)
# from crates.io, pinned to the same version as the npm @eclipse-zenoh/zenoh-ts we depend on.
# The binary is cached outside the repo, keyed by version, so later runs skip the build.
# One crate, one build: the bridge links the remote-api plugin statically, so there is no
# separate zenohd + plugin pair to build (and keep ABI-compatible).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/zenoh-version.sh"
cache_root="${FORGE_ZENOH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/forge-mailbox/zenoh}"
prefix="$cache_root/$version"
bin="$prefix/bin/zenoh-bridge-remote-api"

if [ -x "$bin" ]; then
  echo "zenoh-bridge-remote-api $version already built: $bin" >&2
  echo "$bin"
  exit 0
fi

command -v cargo >/dev/null || { echo "cargo is required to build the Zenoh router" >&2; exit 1; }
mkdir -p "$prefix"
echo "building zenoh-bridge-remote-api $version from crates.io into $prefix (first build takes a while)..." >&2
start=$(date +%s)
# A dedicated target dir outside the repo; removed afterwards to save disk.
target="$cache_root/.target-$version"
CARGO_TARGET_DIR="$target" cargo install --locked --root "$prefix" "zenoh-bridge-remote-api@$version" >&2
rm -rf "$target"
echo "built in $(( $(date +%s) - start ))s: $bin" >&2
echo "$bin"
