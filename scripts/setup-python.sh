#!/usr/bin/env bash
# Creates .venv with the Python Zenoh client used by the cross-language smoke test.
# Pinned to the zenoh-ts version in package.json: a Python client of another minor version may
# speak a protocol the router we build (same version) does not accept.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/zenoh-version.sh"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import importlib.metadata as m,sys; sys.exit(m.version('eclipse-zenoh')!='$version')" 2>/dev/null; then
  echo "eclipse-zenoh $version already in $venv" >&2
  exit 0
fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "eclipse-zenoh==$version"
echo "eclipse-zenoh $version installed in $venv" >&2
