#!/usr/bin/env bash
# Measure `pf-get flow-runs --limit 10` against the same request made by curl, on a running
# server (PREFECT_API_URL, default http://127.0.0.1:4200/api). Prints mean wall time per call.
# usage: scripts/bench-get.sh [ITERATIONS]    (build first: cargo build --release)
set -euo pipefail
n=${1:-20}
api=${PREFECT_API_URL:-http://127.0.0.1:4200/api}
here=$(cd "$(dirname "$0")/.." && pwd)
pfget=${PF_GET:-$here/target/release/pf-get}
body='{"sort":"EXPECTED_START_TIME_DESC","limit":10,"offset":0}'
mean_ms() { # command... ; runs it n times, prints the mean in ms
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$n"); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo $(( (end - start) / n / 1000000 ))
}
"$pfget" flow-runs --limit 10 >/dev/null  # warm up
echo "pf-get flow-runs --limit 10 (ndjson): $(mean_ms "$pfget" flow-runs --limit 10) ms"
echo "pf-get flow-runs --limit 10 -o table: $(mean_ms "$pfget" flow-runs --limit 10 -o table) ms (adds the flow-name join)"
echo "curl POST /flow_runs/filter limit 10: $(mean_ms curl -sf -X POST -H 'Content-Type: application/json' -d "$body" "$api/flow_runs/filter") ms"
if [ -x "${PREFECT_CLI:-}" ]; then
  echo "prefect flow-run ls --limit 10:      $(n=3 mean_ms "$PREFECT_CLI" flow-run ls --limit 10) ms"
fi
