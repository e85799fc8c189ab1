#!/usr/bin/env bash
# Install zsh and fish from Debian's packages when missing, for the completion tests (bash is
# always there). Needs root and apt-get, as CI and the development machines have; otherwise it
# fails and says so (the tests then fail loudly: they are never skipped).
set -euo pipefail
missing=()
for shell in zsh fish; do
    command -v "$shell" >/dev/null || missing+=("$shell")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "error: ${missing[*]} missing and cannot be installed (needs root and apt-get)" >&2
    exit 1
fi
# One installer at a time (apt's own lock would fail a second one).
exec 9>/tmp/pf-install-shells.lock
flock 9
missing=()
for shell in zsh fish; do
    command -v "$shell" >/dev/null || missing+=("$shell")
done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
