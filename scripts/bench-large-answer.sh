#!/usr/bin/env bash
# Peak memory (max RSS) and wall time of pf reading one large JSON array answer (issue 15,
# point 16). A throwaway Python server on loopback streams a generated array of SIZE_MB
# (default 200) for every request: `GET /api/flows/` and `POST /api/flows/filter` alike (a
# real Prefect server won't produce a 200 MB answer on demand); a POST with a `limit` gets
# that many elements of SIZE_MB/limit each (a page of 200 huge flows). Measures
# `pf-api GET flows/`, `pf-api POST flows/filter --jq '.[-1].name'` and `pf-get flows --limit
# 200` in a pipe. CPU is user+system time: on a busy machine wall time says little.
# usage: scripts/bench-large-answer.sh [SIZE_MB]     (PF_BIN: directory of the binaries,
#        default target/debug; build first)
set -euo pipefail
size_mb=${1:-200}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${PF_BIN:-$here/target/debug}
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/server.py" <<'PY'
import http.server, json, sys
size = int(sys.argv[1]) * 1_000_000
def element(i, width):
    head = '{"id":"%08d-0000-4000-8000-000000000000","name":"flow-%08d","tags":["bench"],"pad":"' % (i, i)
    return head + "x" * (width - len(head) - 2) + '"}'
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self):
        n = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}") if n else {}
        # GET: elements of 500 bytes; a POST with a limit (a page): that many elements sharing
        # the size (200 flows of 1 MB each, say). Every element has the same width, so the
        # length is known up front.
        count = min(body.get("limit") or 10**9, max(1, size // 501))
        width = max(200, size // count - 1)
        length = 2 + count * width + (count - 1)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"[")
        chunk, held = [], 0
        for i in range(count):
            chunk.append(("," if i else "") + element(i, width)); held += width
            if held >= 1 << 20:
                self.wfile.write("".join(chunk).encode()); chunk, held = [], 0
        self.wfile.write(("".join(chunk) + "]").encode())
    do_GET = answer
    do_POST = answer
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 "$work/server.py" "$size_mb" >"$work/port" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
export PREFECT_API_URL="http://127.0.0.1:$(cat "$work/port")/api"
export PREFECT_HOME="$work/home"
echo "answer: ${size_mb} MB JSON array; binaries: $bin"

measure() { # label command... : max RSS and wall time of the command, output into wc -c
  local label=$1; shift
  /usr/bin/time -f '%M %e %U %S' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || {
    echo "$label: failed: $(tail -1 "$work/err")"; return; }
  read -r kb secs user sys <"$work/time"
  printf '%-44s max RSS %5d MB  CPU %5.1f s  wall %5.1f s  output %d bytes\n' \
    "$label" $((kb / 1024)) "$(echo "$user + $sys" | bc)" "$secs" "$(wc -c <"$work/out")"
}
measure "pf-api GET flows/ (compact JSON)" "$bin/pf-api" GET flows/
measure "pf-api POST flows/filter --jq '.[-1].name'" "$bin/pf-api" POST flows/filter --jq '.[-1].name'
measure "pf-get flows --limit 200 (NDJSON)" "$bin/pf-get" flows --limit 200
