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
# uv installs a pinned set about 4x faster than pip (Prefect 3.9.1: 16 s against 62 s, with
# bytecode compiled either way; the tests install four sets on a fresh machine). uv itself is
# pip-installed once, pinned, beside the venvs. Where that fails, pip does the whole job.
uv_version=0.13.9
uv_home=$(dirname "$dest")/uv-$uv_version
with_uv() {
    if [ ! -x "$uv_home/bin/uv" ]; then
        rm -rf "$uv_home"
        "$python" -m venv "$uv_home" \
            && "$uv_home/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version" \
            || return 1
    fi
    "$uv_home/bin/uv" venv --quiet --python "$(command -v "$python")" "$dest" \
        && VIRTUAL_ENV=$dest "$uv_home/bin/uv" pip install --quiet --no-deps --compile-bytecode \
            -r "$requirements"
}
with_pip() {
    "$python" -m venv "$dest" \
        && "$dest/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
}
rm -rf "$dest"
if ! with_uv; then
    echo "install-prefect.sh: uv could not install $requirements; using pip" >&2
    rm -rf "$dest"
    with_pip
fi
"$dest/bin/python" -c 'import prefect, sys; print("installed prefect", prefect.__version__, file=sys.stderr)'
touch "$dest/.installed"
