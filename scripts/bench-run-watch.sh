#!/usr/bin/env bash
# Time from start to exit of `pf-run --watch` and of `prefect deployment run --watch` for one
# deployment of a quick flow, N times each (alternating, so load drifts hit both alike).
# Needs a server (PREFECT_API_URL) and a worker serving the deployment.
#
#   PREFECT_API_URL=http://127.0.0.1:4200/api scripts/bench-run-watch.sh pf-hello/bench 5 [path/to/prefect]
set -euo pipefail
deployment=${1:?usage: bench-run-watch.sh FLOW/DEPLOYMENT [N] [PREFECT]}
n=${2:-5}
prefect=${3:-prefect}
pf_run=${PF_RUN:-$(dirname "$0")/../target/release/pf-run}

time_one() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

pf_times=() py_times=()
for _ in $(seq "$n"); do
    pf_times+=("$(time_one "$pf_run" -n "$deployment" --watch)")
    py_times+=("$(time_one "$prefect" deployment run "$deployment" --watch)")
done
echo "pf-run --watch:                 $(printf '%s\n' "${pf_times[@]}" | median) s median of $n (${pf_times[*]})"
echo "prefect deployment run --watch: $(printf '%s\n' "${py_times[@]}" | median) s median of $n (${py_times[*]})"
