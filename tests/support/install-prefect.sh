#!/usr/bin/env bash
# Install a pinned Python prefect into a venv at $1, from the frozen requirements file $2
# (default: tests/python/requirements.txt, the pinned 3.9.1; tests/python/prefect-X.Y.Z.txt are
# the older servers of the compatibility tests). Used by the test harness and the demo;
# offline-reliable with --no-deps on the full pinned set.
# The venv counts as installed only once $1/.installed exists; a partial one is rebuilt.
set -euo pipefail
dest=${1:?usage: install-prefect.sh VENV_DIR [REQUIREMENTS]}
here=$(cd "$(dirname "$0")/.." && pwd)
requirements=${2:-$here/python/requirements.txt}
python=${PF_TEST_PYTHON:-python3}
[ -e "$dest/.installed" ] && exit 0
command -v "$python" >/dev/null || { echo "error: $python not found (Python 3.11 with pip is needed)" >&2; exit 1; }
rm -rf "$dest"
"$python" -m venv "$dest"
"$dest/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
"$dest/bin/python" -c 'import prefect, sys; print("installed prefect", prefect.__version__, file=sys.stderr)'
touch "$dest/.installed"
