# Sourced by the install scripts: sets $here (the repo) and $version, the @eclipse-zenoh/zenoh-ts
# version in package.json, which the router build and the Python client are both pinned to.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(node -e 'const p=require(process.argv[1]);const v=(p.dependencies||{})["@eclipse-zenoh/zenoh-ts"];process.stdout.write(v.replace(/^[^0-9]*/,""))' "$here/package.json" 2>/dev/null || true)"
version="${version:-1.10.1}"
