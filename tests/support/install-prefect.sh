#!/usr/bin/env bash
# Install the pinned Python prefect (tests/python/requirements.txt) into a venv at $1.
# Used by the test harness and the demo; offline-reliable with --no-deps on the full pinned set.
# The venv counts as installed only once $1/.installed exists; a partial one is rebuilt.
set -euo pipefail
dest=${1:?usage: install-prefect.sh VENV_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PF_TEST_PYTHON:-python3}
[ -e "$dest/.installed" ] && exit 0
command -v "$python" >/dev/null || { echo "error: $python not found (Python 3.11 with pip is needed)" >&2; exit 1; }
rm -rf "$dest"
"$python" -m venv "$dest"
"$dest/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$here/python/requirements.txt"
"$dest/bin/python" -c 'import prefect, sys; print("installed prefect", prefect.__version__, file=sys.stderr)'
touch "$dest/.installed"
