#!/usr/bin/env bash
# pf-apply of 200 objects (and the no-op re-apply) vs the Python CLI commands that do the same,
# and moving the server with `prefect transfer` vs `pf-export | pf-apply`, from server A to
# empty servers B (transfer's target) and C (pf's target).
#
# usage: scripts/bench-apply.sh [URL_A URL_B URL_C] [PY_SAMPLE]
#   URL_A, URL_B, URL_C: API URLs of three empty servers (e.g. http://127.0.0.1:4291/api);
#              without them the script starts three servers itself and stops them at exit
#   PY_SAMPLE: how many of the 200 objects the Python CLI creates one command each (default
#              40: each command costs seconds; the per-object time is scaled to 200); 0 skips
#              those rows (only pf-apply, prefect transfer and pf-export | pf-apply)
# Needs: pf binaries (target/release, else target/debug) and PF_PREFECT_VENV (the pinned prefect).
#
# The 200 objects: 100 variables, 50 work pools (process), 50 global concurrency limits.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${PF_BIN:-$here/target/release}; [ -x "$bin/pf-apply" ] || bin=$here/target/debug
prefect=${PF_PREFECT_VENV:?set PF_PREFECT_VENV}/bin/prefect
work=$(mktemp -d)
server_groups=()
# Servers run in their own process groups (setsid), so their uvicorn children stop with them.
cleanup() { for g in "${server_groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
start_server() { # NAME: starts a server with its own PREFECT_HOME, prints its API URL
  local port home=$work/server-$1
  port=$("$PF_PREFECT_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$home"
  PREFECT_HOME=$home setsid "$prefect" server start --host 127.0.0.1 --port "$port" >"$home/log" 2>&1 &
  server_groups+=("$!")
  echo "http://127.0.0.1:$port/api"
}
if [ $# -ge 3 ]; then
  a=$1 b=$2 c=$3 sample=${4:-40}
else
  sample=${1:-40}
  # not in $(…): the server's PID must reach server_groups in this shell
  start_server a >"$work/url-a"; start_server b >"$work/url-b"; start_server c >"$work/url-c"
  a=$(cat "$work/url-a") b=$(cat "$work/url-b") c=$(cat "$work/url-c")
  for url in "$a" "$b" "$c"; do
    for _ in $(seq 240); do curl -sf "$url/health" >/dev/null && break; sleep 0.5; done
  done
fi
export PREFECT_HOME=$work/home; mkdir -p "$PREFECT_HOME"
cat > "$PREFECT_HOME/profiles.toml" <<TOML
active = "a"
[profiles.a]
PREFECT_API_URL = "$a"
[profiles.b]
PREFECT_API_URL = "$b"
TOML
objects=$work/objects.ndjson
for i in $(seq 100); do echo "{\"kind\":\"variable\",\"name\":\"bench_v$i\",\"value\":$i}"; done > "$objects"
for i in $(seq 50); do echo "{\"kind\":\"work-pool\",\"name\":\"bench-pool-$i\",\"type\":\"process\"}"; done >> "$objects"
for i in $(seq 50); do echo "{\"kind\":\"global-concurrency-limit\",\"name\":\"bench-gcl-$i\",\"limit\":$i}"; done >> "$objects"

ms() { # label command... : runs once, prints the wall time (and the exit status and the last
  # line of output when it failed: `prefect transfer` exits 1 when any one object failed)
  local label=$1; shift
  local start end status=0
  start=$(date +%s%N)
  "$@" </dev/null >"$work/out" 2>"$work/err" || status=$?
  end=$(date +%s%N)
  printf '%-58s %8d ms' "$label" $(( (end - start) / 1000000 ))
  if [ "$status" -ne 0 ]; then
    printf ' (exit %d: %s)' "$status" "$(cat "$work/out" "$work/err" | grep -v '^\s*$' | tail -1 | cut -c1-120)"
  fi
  echo
}

echo "# on A ($a)"
ms "pf-apply -f objects.ndjson (200 created)" "$bin/pf-apply" --api-url "$a" -f "$objects"
ms "pf-apply -f objects.ndjson again (200 unchanged)" "$bin/pf-apply" --api-url "$a" -f "$objects"

py_objects() { # the Python CLI's commands for the first $sample objects, as `prefect …` lines
  local per=$(( sample / 4 ))
  for i in $(seq $(( per * 2 ))); do echo "variable set py_v$i $i --overwrite"; done
  for i in $(seq "$per"); do echo "work-pool create py-pool-$i --type process --overwrite"; done
  for i in $(seq "$per"); do echo "global-concurrency-limit create py-gcl-$i --limit $i"; done
}
py_run() { # runs each line through the Python CLI against A
  while read -r line; do
    # shellcheck disable=SC2086
    PREFECT_API_URL=$a "$prefect" $line </dev/null >/dev/null 2>&1 || true
  done
}
if [ "$sample" -gt 0 ]; then # 0: skip the Python CLI's per-command rows
start=$(date +%s%N); py_objects | py_run; end=$(date +%s%N)
per=$(( (end - start) / 1000000 / sample ))
printf '%-58s %8d ms (%d ms each, x200 = %d ms)\n' "prefect CLI, $sample commands (create)" $(( (end - start) / 1000000 )) "$per" $(( per * 200 ))
start=$(date +%s%N); py_objects | sed 's/^global-concurrency-limit create \(\S*\) --limit \(\S*\)/global-concurrency-limit update \1 --limit \2/' | py_run; end=$(date +%s%N)
per=$(( (end - start) / 1000000 / sample ))
printf '%-58s %8d ms (%d ms each, x200 = %d ms)\n' "prefect CLI, same $sample again (overwrite/update)" $(( (end - start) / 1000000 )) "$per" $(( per * 200 ))
fi

echo "# moving A (200 + the Python CLI's $sample + defaults): transfer to B, pf to C"
ms "prefect transfer --from a --to b" "$prefect" --no-prompt transfer --from a --to b
ms "prefect transfer --from a --to b again" "$prefect" --no-prompt transfer --from a --to b
ms "pf-export A | pf-apply C" bash -c "'$bin/pf-export' --api-url '$a' | '$bin/pf-apply' --api-url '$c'"
ms "pf-export A | pf-apply C again (all unchanged)" bash -c "'$bin/pf-export' --api-url '$a' | '$bin/pf-apply' --api-url '$c'"
