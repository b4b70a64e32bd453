#!/usr/bin/env bash
# Builds zenoh-bridge-remote-api <version> from crates.io with Forge's patches to its remote-api
# plugin, and installs the binary as <root>/bin/zenoh-bridge-remote-api, with <root>/PATCHES
# naming the patches it holds. Used by scripts/install-zenoh-router.sh and deploy/router.Dockerfile.
#
#   bash scripts/zenoh-router/build.sh <version> <root>
#
# The patches:
# - remote-api-nodelay.patch: the plugin accepts its WebSocket connections without TCP_NODELAY,
#   so a frame it writes while an earlier one is still unacknowledged waits for the peer's delayed
#   ACK, 40 ms on Linux. A query's reply and its final are two frames, and a batch consume sends
#   one reply per message: on a quiet machine the unpatched router put 40-50 ms on the p99 of
#   single requests and on the p50 of batch consumes (docs/performance.md, issue #13).
# - remote-api-pending-queries.patch: the plugin keeps the queries a WebSocket session has not
#   answered yet in an LRU of 1000 and drops the oldest beyond it (its client gets no reply, the
#   node's answer goes nowhere), so more than 1000 requests in flight towards one node, over all
#   clients, lost some unanswered before the node could answer the excess BUSY (1200 held: 200
#   dropped, test/bridge/zenoh-bridge.test.ts). Patched: 16384. The node still bounds what it
#   works on (zenoh.maxInflightRequests); the LRU stays as the guard against queries a session
#   never answers.
#
# How: both crates are downloaded from crates.io and checked against the checksums of its index
# (as cargo does), the plugin is patched, and the bridge is built against it through a
# `[patch.crates-io]` entry with its published Cargo.lock, in which only the plugin's entry changes
# (its source); `--locked` then fails the build if anything else would.
# Needs: cargo, curl, sha256sum, patch, tar.
set -euo pipefail

version="${1:?usage: build.sh <version> <root>}"
root="${2:?usage: build.sh <version> <root>}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Every *.patch beside this script, applied to the plugin in name order.
mapfile -t patches < <(cd "$here" && shopt -s nullglob && for f in *.patch; do echo "${f%.patch}"; done)

for tool in cargo curl sha256sum patch tar; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is needed to build the Zenoh router" >&2; exit 1; }
done
cargo_version="$(cargo --version)"
echo "build.sh: zenoh-bridge-remote-api $version with ${patches[*]}, $cargo_version" >&2

work="$(mktemp -d "${TMPDIR:-/tmp}/forge-zenoh-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The sparse index's path for a crate name of four or more characters: first two/next two/name.
index_checksum() {
  local name="$1" line
  # One JSON object per version; mirrors may put a space after each colon.
  line="$(curl -sSfL "https://index.crates.io/${name:0:2}/${name:2:2}/$name" | grep -E "\"vers\": ?\"${version//./\\.}\"" || true)"
  [ -n "$line" ] || { echo "build.sh: $name $version was not found in the crates.io index (or the index could not be reached)" >&2; exit 1; }
  sed -E 's/.*"cksum": ?"([0-9a-f]{64})".*/\1/' <<<"$line"
}

fetch_crate() {
  local name="$1" expected actual
  expected="$(index_checksum "$name")"
  curl -sSfL -o "$work/$name.crate" "https://static.crates.io/crates/$name/$name-$version.crate"
  actual="$(sha256sum "$work/$name.crate" | cut -d' ' -f1)"
  [ "$actual" = "$expected" ] || { echo "build.sh: $name-$version.crate has sha256 $actual, the index says $expected" >&2; exit 1; }
  tar -xzf "$work/$name.crate" -C "$work"
}

fetch_crate zenoh-bridge-remote-api
fetch_crate zenoh-plugin-remote-api
bridge="$work/zenoh-bridge-remote-api-$version"
plugin="$work/zenoh-plugin-remote-api-$version"

for p in "${patches[@]}"; do
  patch --quiet --forward -p1 -d "$plugin" <"$here/$p.patch" || { echo "build.sh: $p.patch does not apply to zenoh-plugin-remote-api $version" >&2; exit 1; }
done

printf '\n[patch.crates-io]\nzenoh-plugin-remote-api = { path = "%s" }\n' "$plugin" >>"$bridge/Cargo.toml"
# Repoints the plugin's lock entry at the patched copy, and nothing else.
(cd "$bridge" && cargo update --quiet -p zenoh-plugin-remote-api)

# cargo's own progress lines (Compiling <crate>) are the progress report.
CARGO_TARGET_DIR="$work/target" cargo build --release --locked --manifest-path "$bridge/Cargo.toml" >&2
mkdir -p "$root/bin"
install -m 0755 "$work/target/release/zenoh-bridge-remote-api" "$root/bin/zenoh-bridge-remote-api"
printf '%s\n' "${patches[@]}" >"$root/PATCHES"
