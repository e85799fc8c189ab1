#!/usr/bin/env bash
# Measure bulk writes on N flow runs: `pf-rm flow-runs` and `pf-state cancel` through the
# server's bulk endpoints, pf's per-item path (--per-item), and the Python CLI's per-run loop
# (`prefect flow-run delete ID` / `cancel ID`, timed on SAMPLE runs and extrapolated to N).
# usage: PF_PREFECT_VENV=… [BENCH_ONLY=cancel] scripts/bench-admin.sh [N] [SAMPLE]
#   against PREFECT_API_URL (default: starts its own server on a free port, stopped at exit).
#   Build first: cargo build --release
set -euo pipefail
n=${1:-1000}
sample=${2:-50}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${PF_BIN:-$here/target/release}
venv=${PF_PREFECT_VENV:?set PF_PREFECT_VENV to a venv with prefect}
py=$venv/bin/python
prefect=$venv/bin/prefect
server_pid=
work=$(mktemp -d)
# The server runs in its own process group (setsid) so that its uvicorn child goes with it.
stop_server() { [ -n "$server_pid" ] && kill -- "-$server_pid" 2>/dev/null; server_pid=; }
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
# fresh_server: unless PREFECT_API_URL was given, each row gets a new server and database.
# A Prefect 3 server keeps working after a bulk write (every run cancelled in the last day is
# re-checked for child task runs every 20 s, one background task per run: 1 000 cancelled runs
# keep it at 80-100 % CPU), which would slow whichever row came next.
own_server=
[ -z "${PREFECT_API_URL:-}" ] && own_server=1
fresh_server() {
  [ -n "$own_server" ] || return 0
  stop_server
  local port
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export PREFECT_HOME=$work/home-$port; mkdir -p "$PREFECT_HOME"
  setsid "$prefect" server start --host 127.0.0.1 --port "$port" >"$PREFECT_HOME/server.log" 2>&1 &
  server_pid=$!
  export PREFECT_API_URL=http://127.0.0.1:$port/api
  for _ in $(seq 240); do curl -sf "$PREFECT_API_URL/health" >/dev/null && break; sleep 0.5; done
}

# make_runs STATE COUNT: create COUNT runs of a fresh flow in STATE, print their ids.
make_runs() {
  "$py" - "$PREFECT_API_URL" "$1" "$2" <<'PY'
import sys, time, uuid, datetime, httpx
api, state, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = {"type": state}
if state == "SCHEDULED":
    # Due tomorrow: runs already due turn Late, and the server's late-run service would be
    # setting a Late state on each of them while the timing runs.
    due = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    body["state_details"] = {"scheduled_time": due.isoformat()}
with httpx.Client(base_url=api, timeout=60) as c:
    flow = c.post("/flows/", json={"name": f"bench-{uuid.uuid4().hex[:8]}"}).json()
    assert "id" in flow, flow
    for _ in range(count):
        for attempt in range(40):  # a busy SQLite server answers 503 now and then
            r = c.post("/flow_runs/", json={"flow_id": flow["id"], "state": body})
            if r.is_success:
                break
            time.sleep(0.5)
        print(r.json()["id"])
PY
}

# settle: when this script started the server, wait (up to 10 minutes) until it is idle after
# the runs were made, so that the timing starts on a quiet server.
settle() {
  [ -n "$server_pid" ] || return 0
  local before after
  for _ in $(seq 300); do
    before=$(server_ticks); sleep 2; after=$(server_ticks)
    [ $((after - before)) -le 10 ] && return 0 # under 5 % of a core
  done
}
# server_ticks: CPU clock ticks used so far by the server's process group
server_ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$server_pid" '
    { sub(/^.*\) /, "") } # drop "pid (comm) ", so $3 is the process group
    $3 == g { s += $12 + $13 } END { print s + 0 }'
}

# seconds CMD...: wall time of one command, stdin from $ids, on an idle server
seconds() {
  local start end
  settle
  start=$(date +%s%N)
  "$@" <<<"$ids" >/dev/null
  end=$(date +%s%N)
  echo "scale=2; ($end - $start) / 1000000000" | bc
}

loop() { # python CLI per run over the ids on stdin; failures are counted in $work/failed
  local failed=0
  while read -r id; do "$prefect" "$@" "$id" >/dev/null 2>&1 || failed=$((failed + 1)); done
  echo "$failed" >"$work/failed"
}

echo "N=$n runs, Python loop timed on $sample runs and extrapolated"
if [ "${BENCH_ONLY:-}" != cancel ]; then
fresh_server; ids=$(make_runs COMPLETED "$n"); echo "pf-rm flow-runs (bulk, 50 per call):   $(seconds "$bin/pf-rm" flow-runs --yes) s"
fresh_server; ids=$(make_runs COMPLETED "$n"); echo "pf-rm flow-runs --per-item:             $(seconds "$bin/pf-rm" flow-runs --yes --per-item) s"
fresh_server; ids=$(make_runs COMPLETED "$sample"); t=$(seconds loop flow-run delete)
echo "prefect flow-run delete ID loop:        $t s for $sample → $(echo "scale=1; $t * $n / $sample" | bc) s for $n ($(cat "$work/failed") failed)"
fi
# Cancelled runs start SCHEDULED: the state a cleanup cancels in bulk, and one the server
# cancels outright (no infrastructure to stop), for pf and the Python CLI alike.
fresh_server; ids=$(make_runs SCHEDULED "$n"); echo "pf-state cancel (bulk_set_state):       $(seconds "$bin/pf-state" cancel --yes) s"
fresh_server; ids=$(make_runs SCHEDULED "$n"); echo "pf-state cancel --per-item:             $(seconds "$bin/pf-state" cancel --yes --per-item) s"
fresh_server; ids=$(make_runs SCHEDULED "$sample"); t=$(seconds loop flow-run cancel)
echo "prefect flow-run cancel ID loop:        $t s for $sample → $(echo "scale=1; $t * $n / $sample" | bc) s for $n ($(cat "$work/failed") failed)"
