#!/usr/bin/env bash
# Installs the Node.js LTS the project is developed and tested on (the npm registry's `node`
# package, so no other download source is needed), cached outside the repo, keyed by version, and
# prints the directory holding its `node` binary: `PATH="$(scripts/install-node-lts.sh):$PATH"`.
# CI runs the suite on it as well as on the machine's own Node (see .ci/run).
set -euo pipefail

version="${FORGE_NODE_LTS_VERSION:-26.10.0}"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/forge-mailbox/node"
prefix="$cache_root/$version"
bin="$prefix/node_modules/node/bin"

if [ ! -x "$bin/node" ] || [ "$("$bin/node" --version)" != "v$version" ]; then
  echo "installing Node.js $version from the npm registry into $prefix..." >&2
  mkdir -p "$prefix"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$prefix" "node@$version" >&2
fi
[ "$("$bin/node" --version)" = "v$version" ] || { echo "Node.js $version did not install at $bin" >&2; exit 1; }
echo "$bin"
