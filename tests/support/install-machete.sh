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
# Unoptimised: it only reads this workspace's few files (under 2 s so), and building it so
# takes a third of the CPU of a release build (CI builds it on a fresh machine, beside the tests).
CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install cargo-machete --version "$version" --locked --quiet \
    --root "$root" --target-dir "$root-build"
