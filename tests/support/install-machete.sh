#!/usr/bin/env bash
# Install cargo-machete (finds dependencies declared in Cargo.toml but never used) into
# $1/bin, pinned and from crates.io, once: the unused-dependencies test calls it.
set -euo pipefail
root=${1:?usage: install-machete.sh ROOT}
version=0.9.2
if [ -x "$root/bin/cargo-machete" ] && "$root/bin/cargo-machete" --version 2>/dev/null | grep -q "$version"; then
    exit 0
fi
exec 9>"$root.lock"
flock 9
[ -x "$root/bin/cargo-machete" ] && exit 0
cargo install cargo-machete --version "$version" --locked --quiet \
    --root "$root" --target-dir "$root-build"
