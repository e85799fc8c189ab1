#!/usr/bin/env bash
# pf-deploy vs `prefect deploy` of the same prefect.yaml (two deployments of tests/flows/flows.py,
# a definitions anchor, $ENV and a cron schedule), on a running server (PREFECT_API_URL, default
# http://127.0.0.1:4200/api). Each call is a new process that creates both deployments (they are
# deleted before every call, so both tools do the same writes). Prints each call's wall and CPU time in ms, and
# the floor: `python -c 'import flows'` (the user's module, which imports prefect).
# usage: scripts/bench-deploy.sh [RUNS]   (cargo build --release; PREFECT_CLI=path/to/prefect,
#        PF_PYTHON=the python of that prefect)
set -euo pipefail
n=${1:-5}
export PREFECT_API_URL=${PREFECT_API_URL:-http://127.0.0.1:4200/api}
here=$(cd "$(dirname "$0")/.." && pwd)
pfdeploy=${PF_DEPLOY:-$here/target/release/pf-deploy}
prefect=${PREFECT_CLI:?set PREFECT_CLI to the prefect executable}
export PF_PYTHON=${PF_PYTHON:-$(dirname "$prefect")/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/tests/flows/flows.py" "$work/"
export BENCH_REGION=eu-west-1
cat > "$work/prefect.yaml" <<'YAML'
name: bench
definitions:
  pool: &pool
    name: bench-deploy-pool
    job_variables:
      env: {REGION: "{{ $BENCH_REGION }}"}
deployments:
  - name: bench-hello
    entrypoint: flows.py:hello
    parameters: {name: bench}
    work_pool: *pool
    schedules: [{cron: "0 3 * * *"}]
  - name: bench-typed
    entrypoint: flows.py:typed
    parameters: {count: 1}
    work_pool: *pool
YAML
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"name":"bench-deploy-pool","type":"process"}' "$PREFECT_API_URL/work_pools/" >/dev/null || true
clean() {
  for name in pf-hello/bench-hello pf-typed/bench-typed; do
    id=$(curl -sf "$PREFECT_API_URL/deployments/name/$name" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p') || true
    [ -n "${id:-}" ] && curl -sf -X DELETE "$PREFECT_API_URL/deployments/$id" >/dev/null || true
  done
  find "$work" -name __pycache__ -prune -exec rm -rf {} +
}
# wall/cpu ms of one call (cpu = user + sys of the process and its children, e.g. Python)
ms() {
  /usr/bin/time -f '%e %U %S' -o "$work/time" "$@" >/dev/null 2>&1 || true
  tail -1 "$work/time" | awk '{printf "%d/%d", $1 * 1000, ($2 + $3) * 1000}'
}
cd "$work"
export PREFECT_HOME="$work/home"
for tool in pf-deploy prefect import; do
  times=()
  for _ in $(seq "$n"); do
    clean
    if [ "$tool" = pf-deploy ]; then
      times+=("$(ms "$pfdeploy" --all)")
    elif [ "$tool" = prefect ]; then
      times+=("$(ms "$prefect" --no-prompt deploy --all)")
    else # the floor: the user's own module imported by the same Python (it imports prefect)
      times+=("$(ms "$PF_PYTHON" -c 'import flows')")
    fi
  done
  echo "$tool (wall/cpu ms): ${times[*]}"
done
